#!/usr/bin/env bash
# Performance gate: asv continuous between the recorded baseline (.ci/asv_baseline, else
# HEAD~1) and HEAD; fails only on a slowdown beyond the factor confirmed twice.
# Installs asv itself into .asv/tool (a venv; .asv/ is git-ignored). Exit 0 pass,
# 1 confirmed slowdown, 2 error. Env: ASV_GATE_FACTOR (1.3), ASV_GATE_BENCH (regex),
# PYTHON (the interpreter to build the tool venv and the benchmark envs with).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PY="${PYTHON:-python3}"
T0=$(date +%s)
if [ ! -x .asv/tool/bin/python ] || ! .asv/tool/bin/python -c "import asv, virtualenv" 2>/dev/null; then
    "$PY" -m venv .asv/tool
    .asv/tool/bin/python -m pip install -q --disable-pip-version-check "asv==0.6.6" virtualenv
fi
echo "[asv-gate] asv ready in $(( $(date +%s) - T0 )) s"
# asv's virtualenv envs use the python of the same version as the tool venv's.
export PATH="$(cd "$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")" && pwd):$PATH"
set +e
.asv/tool/bin/python .ci/asv_gate.py "$@"
rc=$?
set -e
echo "[asv-gate] exit $rc after $(( $(date +%s) - T0 )) s"
exit $rc
