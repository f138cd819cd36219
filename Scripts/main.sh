#!/usr/bin/env bash
# The main job on the bundled data: set up, build, then turn every bundled spoken-digit clip
# into a log-mel spectrogram (.npy + .json) and a picture (.png), and resynthesize each through
# the vocoder (log-mel -> NNLS -> Griffin-Lim -> WAV), under out/ (or $1).
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
