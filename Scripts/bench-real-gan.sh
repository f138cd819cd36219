#!/usr/bin/env bash
# Issue 25's benchmark: the GAN on small real data, recipe part by part. A corpus with speakers
# in its file names (the Free Spoken Digit Dataset's recordings/ folder by default: a public
# repository's snapshot, never part of this project) is split by speaker: HELD_OUT speakers
# (default george and jackson) are never trained on. A judge is trained on the other speakers
# and measured on the held-out ones (`classifier train --held-out george,jackson`, which
# records them), then for each recipe a GAN trains on those speakers
# for MINUTES (stopped by SIGTERM: the run writes its checkpoint and stops), synthesizes COUNT
# clips, and is scored: the Inception score beside the held-out speakers' real clips' on the
# same judge (their ratio is the figure), the label entropy, and the closest generated clip to a
# training clip (|D|train: memorising when near 0).
#
#   Scripts/bench-real-gan.sh RECORDINGS_DIR [OUT_DIR]
#   MINUTES=60 RECIPES="baseline ema augment ttur all" LAYOUT=fsdd HELD_OUT="george jackson" COUNT=600
#   SEED=0 (the GANs' --seed: a second seed is a second run of every recipe)
#   (recipe conditional: all's flags with --conditional; COUNT/classes clips per label, each label's
#   in a folder of its name, also scored by how often the judge hears the label asked for)
#   JUDGE_EPOCHS=60 JUDGE_FLAGS="--loudness peak --augment" (the judge's training: the best measured on unseen
#   speakers, 81-91% against 64-65% for --loudness peak alone; BENCHMARKS.md)
# Each run takes both cores: nothing else should run beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: Scripts/bench-real-gan.sh RECORDINGS_DIR [OUT_DIR]}
out=${2:-out/bench-real-gan}
MINUTES=${MINUTES:-60}
RUN_SECONDS=${RUN_SECONDS:-$((MINUTES * 60))}   # (a smoke test of the script: RUN_SECONDS=30)
RECIPES=${RECIPES:-"baseline ema augment ttur all"}
LAYOUT=${LAYOUT:-fsdd}
HELD_OUT=${HELD_OUT:-"george jackson"}
COUNT=${COUNT:-600}
SEED=${SEED:-0}
JUDGE_FLAGS=${JUDGE_FLAGS-"--loudness peak --augment"}   # (set but empty: none)
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"
mkdir -p "$out"

# The split by speaker, as links: train/ holds every other speaker's clips, heldout/ these.
rm -rf "$out/train" "$out/heldout"
mkdir -p "$out/train" "$out/heldout"
speaker_pattern() { case "$LAYOUT" in fsdd) echo '^[^_]+_([^_]+)_' ;; *) echo "bench-real-gan.sh: LAYOUT $LAYOUT has no speaker rule here" >&2; exit 2 ;; esac; }
pattern=$(speaker_pattern)
for clip in "$data"/*.wav; do
  name=$(basename "$clip")
  speaker=$(echo "$name" | sed -E "s/$pattern.*/\1/")
  if [[ " $HELD_OUT " == *" $speaker "* ]]; then ln -s "$(realpath "$clip")" "$out/heldout/$name"
  else ln -s "$(realpath "$clip")" "$out/train/$name"; fi
done
echo "== $(ls "$out/train" | wc -l) training clips, $(ls "$out/heldout" | wc -l) held-out clips (speakers: $HELD_OUT); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

# The judge: trained on the training speakers, measured on the held-out ones (which it records,
# so that evaluate --speakers held-out scores their clips as the ceiling).
judge="$out/judge.safetensors"
# shellcheck disable=SC2086
[[ -f "$judge" ]] || "$melforge" classifier train --data "$data" --layout "$LAYOUT" -o "$judge" --epochs "${JUDGE_EPOCHS:-60}" \
  --held-out "$(echo $HELD_OUT | tr ' ' ',')" $JUDGE_FLAGS

flags_of() {
  case "$1" in
    baseline) echo "" ;;
    ema) echo "--ema 0.999" ;;
    augment) echo "--augment" ;;
    ttur) echo "--lr-d 4e-4" ;;
    all) echo "--ema 0.999 --augment --lr-d 4e-4" ;;
    conditional) echo "--conditional --ema 0.999 --augment --lr-d 4e-4" ;;
    *) echo "bench-real-gan.sh: recipe '$1' is not accepted; expected baseline, ema, augment, ttur, all or conditional" >&2; exit 2 ;;
  esac
}
for recipe in $RECIPES; do flags_of "$recipe" >/dev/null; done  # an unknown recipe stops here
score() {  # an evaluation report's KEY, or KEY's SUBKEY (scores inception_score)
  python3 -c "import json, sys; s = json.load(open(sys.argv[1]))
for key in sys.argv[2:]: s = s.get(key) if isinstance(s, dict) else None
print('' if s is None else (f'{s:.2f}' if isinstance(s, float) else s))" "$@"
}
printf "%-11s %6s %8s %9s %9s %7s %9s %9s %10s\n" recipe steps minutes IS IS_real ratio entropy D_train requested
for recipe in $RECIPES; do
  run="$out/gan-$recipe"
  # shellcheck disable=SC2046
  "$melforge" train gan --data "$out/train" --layout "$LAYOUT" --out "$run" --steps 1000000 --checkpoint-every 500 --seed "$SEED" \
    $(flags_of "$recipe") $([[ -f "$run/checkpoint.safetensors" ]] && echo --resume) >"$run.log" 2>&1 &
  pid=$!
  started=$(date +%s)
  sleep "$RUN_SECONDS" || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true   # stopped by SIGTERM: status 143, checkpoint written
  minutes=$(python3 -c "print(f'{($(date +%s) - $started) / 60:.1f}')")
  steps=$(python3 -c "import json, struct, sys; f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; print(json.loads(f.read(n))['__metadata__']['step'])" "$run/checkpoint.safetensors")
  rm -rf "$run-clips"
  requested=()
  if [[ "$recipe" == conditional ]]; then
    # COUNT clips in all, each label's in a folder of its name: the judge's verdicts against the
    # labels asked for (evaluate --requested-by-folder).
    labels=$(ls "$out/train" | sed -E 's/^([^_]+)_.*/\1/' | sort -u)
    for label in $labels; do
      "$melforge" synthesize --checkpoint "$run" -o "$run-clips/$label" --label "$label" --count $((COUNT / $(echo $labels | wc -w))) \
        --vocoder pghi >/dev/null 2>>"$out/evaluate.log"
    done
    requested=(--requested-by-folder)
  else
    "$melforge" synthesize --checkpoint "$run" -o "$run-clips" --count "$COUNT" --vocoder pghi >/dev/null 2>>"$out/evaluate.log"
  fi
  "$melforge" evaluate --classifier "$judge" --generated "$run-clips" --reference "$data" --layout "$LAYOUT" --speakers held-out --json "$run-heldout.json" "${requested[@]}" >/dev/null 2>>"$out/evaluate.log"
  "$melforge" evaluate --classifier "$judge" --generated "$run-clips" --reference "$data" --layout "$LAYOUT" --speakers training --json "$run-train.json" >/dev/null 2>>"$out/evaluate.log"
  generated=$(score "$run-heldout.json" scores inception_score)
  real=$(score "$run-heldout.json" reference_scores inception_score)
  entropy=$(score "$run-heldout.json" scores label_entropy_bits)
  distance=$(score "$run-train.json" scores d_train)
  ratio=$(score "$run-heldout.json" inception_score_ratio)
  heard=$(score "$run-heldout.json" requested accuracy)
  printf "%-11s %6s %8s %9.2f %9.2f %7s %9.2f %9.3f %10s\n" "$recipe" "$steps" "$minutes" "$generated" "$real" "$ratio" "$entropy" "$distance" "${heard:--}"
done
