#!/usr/bin/env bash
# Run fastloss's CUDA checks on a machine with an NVIDIA GPU (H100/H200), without the
# simulator, then a small benchmark. Prints a compact summary. About 2-4 minutes.
#
# Needs (install from wheels, e.g. `pip install --no-index --find-links WHEELS ...`):
#   numpy>=1.24, numba==0.68.1 (+ llvmlite 0.46.x), numba-cuda[cu12]==0.30.4 (driver >= 525)
#   or numba-cuda[cu13]==0.30.4 (driver >= 580), pytest>=8, and fastloss itself
#   (`pip install --no-deps -e .` or put the checkout on PYTHONPATH, as below).
#   numba-cuda[cu12] pulls cuda-bindings 12.x, cuda-core, cuda-pathfinder, cuda-toolkit 12.x
#   (cccl, cudart, nvcc, nvrtc) and nvidia-nvjitlink-cu12; [cu13] the 13.x equivalents.
# Optional: FASTLOSS_BENCH_N (default 2^26 elements), OUT (a folder for the JSON and logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${OUT:-${TMPDIR:-/tmp}/fastloss_gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset NUMBA_ENABLE_CUDASIM

$PY - <<'PY' || { echo "SUMMARY: no usable GPU or packages missing"; exit 2; }
import numba, numba_cuda, fastloss
from numba import cuda
print("numba", numba.__version__, "numba-cuda", numba_cuda.__version__, "fastloss",
      fastloss.__file__)
cuda.detect()
fastloss._backend.require_cuda()
PY

t0=$(date +%s)
# 1. the kernel tests (every loss x op x dtype x axis vs the CPU, options, dispatch) on the
#    real device, with the default launch shape and larger inputs; warnings are shown, not
#    errors, so that one run reports everything
FASTLOSS_TEST_CUDA=1 $PY -m pytest tests/cuda_sim tests/test_cuda_dispatch.py -q \
    -p no:cacheprovider -W default -x --no-header -rfE 2>&1 | tee "$OUT/pytest_gpu.log" | tail -25
tests_rc=${PIPESTATUS[0]}
t1=$(date +%s)

# 2. the benchmark
FASTLOSS_BENCH_JSON="$OUT/bench.json" $PY tests/gpu/gpu_bench.py 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
t2=$(date +%s)

echo
echo "SUMMARY: GPU tests rc=$tests_rc ($(grep -Eo '[0-9]+ (passed|failed|error)[^=]*' \
    "$OUT/pytest_gpu.log" | tail -1), $((t1 - t0)) s); benchmark rc=$bench_rc ($((t2 - t1)) s);" \
    "logs and bench.json in $OUT"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
