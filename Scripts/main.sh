#!/usr/bin/env bash
# The main job on the bundled data: set up, build, then turn every bundled spoken-digit clip
# into a log-mel spectrogram (.npy + .json) and a picture (.png), resynthesize each through the
# vocoder (log-mel -> NNLS -> Griffin-Lim -> WAV), then train a GAN on them for a few minutes
# (MELFORGE_MAIN_STEPS steps, default 300) and turn four of its samples into WAV files; all under
# out/ (or $1). Run again, it continues the training run where it stopped.
# Later stages of the pipeline (training, synthesis) extend this script as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}

Scripts/setup.sh
melforge="$(swift build -c release --show-bin-path)/melforge"
"$melforge" doctor

echo "== spectrograms of Audio/digits -> $out/spectrograms"
count=0
while IFS= read -r -d '' clip; do
  relative=${clip#Audio/digits/}
  target="$out/spectrograms/${relative%.wav}"
  "$melforge" spectrogram "$clip" -o "$target.npy" --png "$target.png" >/dev/null
  count=$((count + 1))
done < <(find Audio/digits -name '*.wav' -print0 | sort -z)
echo "wrote $count spectrograms (.npy, .json, .png) under $out/spectrograms"

echo "== resynthesis through the vocoder (log-mel -> NNLS -> Griffin-Lim) -> $out/resynth"
count=0
while IFS= read -r -d '' clip; do
  relative=${clip#Audio/digits/}
  "$melforge" resynth "$clip" -o "$out/resynth/$relative" | sed 's/^.*: //'
  count=$((count + 1))
done < <(find Audio/digits -name '*.wav' -print0 | sort -z) | awk '{ print } /SC/ { n++; sc += $(NF-2) } END { if (n) printf "mean SC over %d clips: %.4f\n", n, sc / n }' | tail -3
echo "wrote the resynthesized clips under $out/resynth"

echo "== a short GAN training run on Audio/digits (hinge loss, spectral norm) -> $out/train"
steps=${MELFORGE_MAIN_STEPS:-300}
if [[ -f "$out/train/checkpoint.safetensors" ]]; then resume=--resume; else resume=; fi
"$melforge" train gan --data Audio/digits --out "$out/train" --steps "$steps" --batch-size 16 --checkpoint-every 100 $resume
for n in 1 2 3 4; do
  "$melforge" invert "$out/train/samples/sample-$n.npy" -o "$out/train/sample-$n.wav" | sed 's/^.*: //'
done
echo "generated clips: $out/train/sample-1.wav ... sample-4.wav; samples.png and losses.svg show the run"
