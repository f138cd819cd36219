#!/usr/bin/env bash
# Training-step benchmark: MelForge beside TensorFlow and PyTorch in one run (measures and
# prints). The references are ../shared/bench/bench_train.py (development only) run with $PY:
# TensorFlow fp32 and with Keras's mixed_bfloat16 policy, PyTorch fp32. MelForge runs the same
# steps on each convolution engine: im2col + OpenBLAS (fp32), oneDNN fp32, oneDNN bf16. First the
# CPU's fp32 and bf16 peaks as oneDNN's matrix products reach them (Scripts/peak-gflops.c).
#
#   Scripts/bench-train.sh [--steps 20]
#   FRAMEWORKS=tf PY=/path/to/venv/bin/python Scripts/bench-train.sh   (a venv without torch)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=20
[[ "${1:-}" == --steps ]] && steps=$2
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
FRAMEWORKS=${FRAMEWORKS:-both}
reference=../shared/bench/bench_train.py
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
"$melforge" doctor | grep -E "BLAS kernel|oneDNN|precision"
# The peaks the steps' GFLOP/s are read against (oneDNN's fp32 and bf16 matrix products).
peak="$(swift build -c release --show-bin-path)/peak-gflops"
"${CC:-clang}" -O2 Scripts/peak-gflops.c -ldnnl -o "$peak"
OMP_NUM_THREADS=2 "$peak"
if [[ -x "$PY" && -f "$reference" ]]; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" --framework "$FRAMEWORKS" --threads 2 --steps "$steps"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" --framework tf --mixed-bf16 --threads 2 --steps "$steps"
fi
for model in gan vae; do
  for engine in "--engine im2col" "--precision fp32" "--precision bf16"; do
    # shellcheck disable=SC2086
    "$melforge" bench "$model" --steps "$steps" --warmup 3 $engine | grep -E "convolutions|median"
  done
done
