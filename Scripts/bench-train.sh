#!/usr/bin/env bash
# Training-step benchmark: MelForge beside TensorFlow and PyTorch in one run (measures and
# prints). The references are ../shared/bench/bench_train.py (development only) run with $PY:
# TensorFlow fp32 and with Keras's mixed_bfloat16 policy, PyTorch fp32. MelForge runs the same
# steps on each convolution engine: im2col + OpenBLAS (fp32), oneDNN fp32, oneDNN bf16. First the
# CPU's fp32 and bf16 peaks as oneDNN's matrix products reach them (Scripts/peak-gflops.c).
#
# The machine is shared and its speed drifts by 10-30% over minutes, so every system runs once
# per round, rounds one after another (ROUNDS, default 3), and the summary gives each system's
# median over the rounds and MelForge's ratios to TensorFlow's within each round: a slow spell
# then slows both sides of a ratio.
#
# ISA=avx2 runs every system as an AVX2 CPU would (on a newer one): ONEDNN_MAX_CPU_ISA=AVX2 for
# oneDNN inside MelForge and TensorFlow, MELFORGE_MAX_CPU_ISA=avx2 (OpenBLAS's Haswell kernel and
# MelForge's own AVX2 kernels); bf16 systems are left out (no bfloat16 below AVX-512).
#
#   Scripts/bench-train.sh [--steps 20]
#   ROUNDS=5 FRAMEWORKS=tf PY=/path/to/venv/bin/python Scripts/bench-train.sh   (a venv without torch)
#   ISA=avx2 ROUNDS=5 FRAMEWORKS=tf Scripts/bench-train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
steps=20
[[ "${1:-}" == --steps ]] && steps=$2
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
FRAMEWORKS=${FRAMEWORKS:-both}
ROUNDS=${ROUNDS:-3}
ISA=${ISA:-native}
engines=("im2col:--engine im2col" "fp32:--precision fp32" "bf16:--precision bf16")
bf16=1
case "$ISA" in
  native) ;;
  avx2|AVX2) export ONEDNN_MAX_CPU_ISA=AVX2 MELFORGE_MAX_CPU_ISA=avx2; engines=("${engines[@]:0:2}"); bf16=0 ;;
  *) echo "bench-train.sh: ISA '$ISA' is not accepted; expected native or avx2" >&2; exit 2 ;;
esac
reference=../shared/bench/bench_train.py
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; uptime
"$melforge" doctor | grep -E "BLAS kernel|oneDNN|C kernels|engine"
# The peaks the steps' GFLOP/s are read against (oneDNN's fp32 and bf16 matrix products).
peak="$(swift build -c release --show-bin-path)/peak-gflops"
"${CC:-clang}" -O2 Scripts/peak-gflops.c -ldnnl -o "$peak"
OMP_NUM_THREADS=2 "$peak" || true  # (its bf16 product needs AVX-512 BF16)

# One line per measurement: "[system] MODEL: median X ms/step ...".
for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS ($(date -u +%H:%M:%S))"
  if [[ -x "$PY" && -f "$reference" ]]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" --framework "$FRAMEWORKS" --threads 2 --steps "$steps" \
      | sed 's/^\[tensorflow\]/[tensorflow fp32]/; s/^\[torch\]/[pytorch fp32]/'
    if (( bf16 )); then
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" --framework tf --mixed-bf16 --threads 2 --steps "$steps" \
        | sed 's/^\[tensorflow\]/[tensorflow mixed_bfloat16]/'
    fi
  fi
  for model in gan vae; do
    for engine in "${engines[@]}"; do
      # shellcheck disable=SC2086
      "$melforge" bench "$model" --steps "$steps" --warmup 3 ${engine#*:} | grep -E "median" \
        | sed "s/^/[melforge ${engine%%:*}] /"
    done
  done
done | tee "$log"

# The median over the rounds of a system's ms/step for a model ("" if it did not run).
median() {
  { grep -F "[$1] $2: median" "$log" || true; } | sed 's/.*median \([0-9.]*\) ms.*/\1/' | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# The median over the rounds of (reference's ms/step / MelForge's ms/step) in the same round.
ratio() {
  paste <({ grep -F "[$2] $3: median" "$log" || true; } | sed 's/.*median \([0-9.]*\) ms.*/\1/') \
        <({ grep -F "[$1] $3: median" "$log" || true; } | sed 's/.*median \([0-9.]*\) ms.*/\1/') \
    | awk 'NF == 2 { print $1 / $2 }' | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR) printf "%.2fx (rounds %.2f-%.2f)", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'
}
echo "== summary: median ms/step over $ROUNDS rounds; speed ratios, median of the rounds' (higher is faster)"
for model in GAN VAE; do
  for system in "tensorflow fp32" "tensorflow mixed_bfloat16" "pytorch fp32" "melforge im2col" "melforge fp32" "melforge bf16"; do
    value=$(median "$system" "$model")
    if [[ -n "$value" ]]; then printf "%s %-27s %7.1f ms\n" "$model" "$system" "$value"; fi
  done
  for pair in "melforge fp32:tensorflow fp32" "melforge bf16:tensorflow fp32" "melforge bf16:tensorflow mixed_bfloat16" \
              "melforge im2col:tensorflow fp32"; do
    value=$(ratio "${pair%%:*}" "${pair#*:}" "$model")
    if [[ -n "$value" ]]; then echo "$model ${pair%%:*} vs ${pair#*:}: $value"; fi
  done
done
