#!/usr/bin/env bash
# Training-step benchmark: MelForge beside TensorFlow and PyTorch in one run (measures and
# prints). The references are ../shared/bench/bench_train.py (development only) run with $PY.
#
#   Scripts/bench-train.sh [--steps 20]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=20
[[ "${1:-}" == --steps ]] && steps=$2
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
reference=../shared/bench/bench_train.py
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
"$melforge" doctor | head -2
if [[ -x "$PY" && -f "$reference" ]]; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" --framework both --threads 2 --steps "$steps"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" ../shared/bench/bench_gemm.py 2>/dev/null | tail -4 || true
fi
for model in gan vae; do "$melforge" bench "$model" --steps "$steps" --warmup 3; done
