#!/usr/bin/env bash
# bf16 against fp32 on what training makes (issue 14's quality gate): the reference-size GAN
# trained on the full spoken-digit corpus four times for the same number of steps, in fp32 and
# in bf16 with seeds 0 and 1 (each pair's difference is its run-to-run spread), each judged
# every STEPS/4 steps by a classifier trained on the corpus (Inception score and Frechet distance
# of 512 generated spectrograms, no vocoder). Prints each run's scores and how long it took.
# Runs one after another (two at once would slow each other); a killed run resumes.
#
#   Scripts/bench-precision-quality.sh [STEPS]     (default 2000: about 25 minutes here; a larger
#                                                   STEPS later continues the same runs)
#   CORPUS=DIR OUT=DIR Scripts/bench-precision-quality.sh
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-2000}
corpus=${CORPUS:-.build-corpus/digits}
out=${OUT:-.build-corpus/precision-quality}
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"
[[ -d "$corpus" ]] || Scripts/make-digits.sh full "$corpus"
mkdir -p "$out"
classifier="$out/classifier.safetensors"
[[ -f "$classifier" ]] || "$melforge" classifier train --data "$corpus" -o "$classifier"

# A number from one log.jsonl line: field NAME LINE.
field() { grep -o "\"$1\": *[0-9.e+-]*" <<<"$2" | cut -d: -f2 | tr -d ' '; }

for run in fp32-seed0 fp32-seed1 bf16-seed0 bf16-seed1; do
  precision=${run%%-*} seed=${run##*seed}
  dir="$out/gan-$run"
  resume=()
  [[ -f "$dir/checkpoint.safetensors" ]] && resume=(--resume)
  start=$(date +%s)
  "$melforge" train gan --data "$corpus" --out "$dir" --steps "$steps" --precision "$precision" --seed "$seed" \
    --classifier "$classifier" --eval-every $((steps / 4)) --eval-count 512 "${resume[@]}" >"$dir.out" 2>&1
  echo "== $run: $(( $(date +%s) - start )) s for the steps run now"
  while read -r line; do
    echo "  step $(field step "$line"): IS $(field inception_score "$line"), FD $(field frechet_distance "$line")"
  done < <(grep inception_score "$dir/log.jsonl")
done
