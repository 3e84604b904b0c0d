#!/usr/bin/env bash
# Prove the parallel gate: in a throwaway clone, (1) a commit that leaves the kernels
# unchanged passes .ci/parallel_gate.py; (2) a commit whose parallel pointwise kernel runs
# its chunks as one block (parallel in name, one thread in fact) fails it. Both compare
# against the current HEAD as the recorded baseline. Run in the project's venv.
# Usage: .ci/prove_parallel_gate.sh [WORKDIR]   (about 2 min here)
set -uo pipefail
SRC="$(git rev-parse --show-toplevel)"
WORK="${1:-$(mktemp -d /tmp/fastloss-parallel-proof.XXXXXX)}"
BASE="$(git -C "$SRC" rev-parse HEAD)"
git clone -q "$SRC" "$WORK/clone" && cd "$WORK/clone" || exit 2
git config user.email gate@proof && git config user.name gate-proof
git checkout -q -B proof-same "$BASE"
printf '# gate proof: baseline is the commit under test\n%s\n' "$BASE" > .ci/asv_baseline
echo "# unchanged kernels" >> README.gate-proof
git add .ci/asv_baseline README.gate-proof && git commit -qm "gate proof: no kernel change"
results=()
echo "=== unchanged code: expect exit 0"
python .ci/parallel_gate.py 2>&1 | tee "$WORK/unchanged.log"
results+=("unchanged: exit ${PIPESTATUS[0]} (want 0)")
git checkout -q -B proof-one-block "$BASE"
printf '# gate proof: baseline is the commit under test\n%s\n' "$BASE" > .ci/asv_baseline
python3 - <<'PY'
p = "fastloss/_kernels/cpu.py"
s = open(p).read()
old = "nblk = min(nparts, MAXBLK_) if PAR else 1"
assert old in s, "patch point moved: update .ci/prove_parallel_gate.sh"
open(p, "w").write(s.replace(old, "nblk = 1  # gate proof: one block, one thread"))
PY
git add -A fastloss .ci/asv_baseline && git commit -qm "gate proof: parallel pointwise kernel in one block"
echo "=== one block: expect exit 1 (the pointwise and GAN benchmarks)"
python .ci/parallel_gate.py 2>&1 | tee "$WORK/one-block.log"
results+=("one block: exit ${PIPESTATUS[0]} (want 1)")
printf '%s\n' "${results[@]}"
echo "logs in $WORK"
