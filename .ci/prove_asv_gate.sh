#!/usr/bin/env bash
# Prove the asv gate (issue 6): in a throwaway clone, (1) a commit that leaves the kernels
# unchanged passes the gate, twice; (2) a commit that runs the huber kernel twice per call
# (a 2x slowdown of one kernel) fails it. Both compare against the current HEAD as the
# recorded baseline. Usage: .ci/prove_asv_gate.sh [WORKDIR]   (about 10-15 min here)
set -uo pipefail
SRC="$(git rev-parse --show-toplevel)"
WORK="${1:-$(mktemp -d /tmp/fastloss-gate-proof.XXXXXX)}"
BASE="$(git -C "$SRC" rev-parse HEAD)"
git clone -q "$SRC" "$WORK/clone" && cd "$WORK/clone" || exit 2
git checkout -q -B gate-proof "$BASE"
git config user.email gate@proof && git config user.name gate-proof
printf '# gate proof: baseline is the commit under test\n%s\n' "$BASE" > .ci/asv_baseline
echo "# unchanged kernels" >> README.gate-proof
git add .ci/asv_baseline README.gate-proof && git commit -qm "gate proof: no kernel change"
results=()
for i in 1 2; do
    echo "=== unchanged code, run $i: expect exit 0"
    .ci/asv_gate.sh 2>&1 | tee "$WORK/unchanged-$i.log" | grep -E '^\[asv-gate|^\| '
    results+=("unchanged run $i: exit ${PIPESTATUS[0]} (want 0)")
done
git checkout -q -B gate-proof-slow "$BASE"
printf '# gate proof: baseline is the commit under test\n%s\n' "$BASE" > .ci/asv_baseline
python3 - <<'PY'
p = "fastloss/_kernels/cpu.py"
s = open(p).read()
old = "                k = _kernels[key] = _make_pointwise(*key)\n    return k\n"
assert old in s, "patch point moved: update .ci/prove_asv_gate.sh"
s = s.replace(old, "                k = _kernels[key] = _make_pointwise(*key)\n"
              "    if scalar.__name__ == \"huber_scalar\":  # deliberate 2x slowdown (gate proof)\n"
              "        k1 = k\n\n"
              "        def k(*args):\n"
              "            k1(*args)\n"
              "            k1(*args)\n"
              "    return k\n")
open(p, "w").write(s)
PY
git add -A fastloss .ci/asv_baseline && git commit -qm "gate proof: huber kernel runs twice (2x slower)"
echo "=== huber 2x slower: expect exit 1"
.ci/asv_gate.sh 2>&1 | tee "$WORK/slow.log" | grep -E '^\[asv-gate|^\| '
results+=("2x slowdown: exit ${PIPESTATUS[0]} (want 1)")
printf '%s\n' "${results[@]}"
echo "logs in $WORK"
