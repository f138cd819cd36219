#!/usr/bin/env bash
# The main job on the bundled data: set up, build, then turn every bundled spoken-digit clip
# into a log-mel spectrogram (.npy + .json) and a picture (.png), resynthesize each through the
# vocoder (log-mel -> NNLS -> Griffin-Lim -> WAV), train a GAN on them for a few minutes
# (MELFORGE_MAIN_STEPS steps, default 300), train a learned vocoder on the same clips
# (MELFORGE_MAIN_VOCODER_STEPS steps, default 1500, under two minutes), train a classifier on them,
# synthesize 16 clips with a page to hear them through each vocoder side by side (with the
# classifier's verdicts), score them with it, and steer the GAN toward "seven"
# (MELFORGE_MAIN_STEER_STEPS steps, default 150); all under out/ (or $1). Run again, it
# continues the training run where it stopped.
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
echo "samples.png and losses.svg show the run in $out/train"

echo "== a learned vocoder on Audio/digits (the GAN's front end: 64 mel bands) -> $out/vocoder"
# Without discriminators (train vocoder's default is with them): each step with them takes about
# five times as long, too long for this short run (BENCHMARKS.md, issue 26).
echo "(trained with --no-adversarial: discriminators cost about 5x per step, too long for this short run; they are train vocoder's default; see BENCHMARKS.md)"
vocoder_steps=${MELFORGE_MAIN_VOCODER_STEPS:-1500}
if [[ -f "$out/vocoder/checkpoint.safetensors" ]]; then resume=--resume; else resume=; fi
"$melforge" train vocoder --data Audio/digits --out "$out/vocoder" --steps "$vocoder_steps" --checkpoint-every 500 --no-adversarial $resume
echo "losses.svg and samples/ show the vocoder's run in $out/vocoder"

echo "== a classifier of the bundled digits, the judge of what the GAN makes -> $out/classifier.safetensors"
"$melforge" classifier train --data Audio/digits -o "$out/classifier.safetensors"

echo "== synthesis: 16 clips from the GAN through each vocoder and a page to hear them side by side, with the judge's verdicts -> $out/clips/index.html"
"$melforge" synthesize --checkpoint "$out/train" -o "$out/clips" --count 16 --overwrite --classifier "$out/classifier.safetensors" \
  --vocoder "$out/vocoder" --compare-vocoder griffinlim --compare-vocoder pghi

echo "== evaluation: the judge scores the clips against the bundled ones -> $out/evaluation.json"
"$melforge" evaluate --classifier "$out/classifier.safetensors" --generated "$out/clips" --reference Audio/digits \
  --json "$out/evaluation.json"

echo "== reward-guided generation: steer the GAN toward 'seven' -> $out/seven"
rm -f "$out/seven.safetensors"  # the generator may have trained on since: steer it afresh
"$melforge" steer --checkpoint "$out/train" --reward label:seven --classifier "$out/classifier.safetensors" \
  -o "$out/seven.safetensors" --steps "${MELFORGE_MAIN_STEER_STEPS:-150}"
"$melforge" synthesize --checkpoint "$out/train" --policy "$out/seven.safetensors" -o "$out/seven" --count 16 --overwrite \
  --classifier "$out/classifier.safetensors"
echo "generated clips: $out/clips/index.html (the GAN), $out/seven/index.html (steered toward 'seven')"
