#!/usr/bin/env bash
# Spoken digits "zero".."nine" from espeak-ng: 16 kHz mono 16-bit WAV, leading and
# trailing silence trimmed, peak-normalised to -3 dBFS, 50 ms of lead-in, padded or cut
# to exactly 1 s; one folder per digit (DIR/seven/en-us+f2_s175_p50.wav).
#
#   Scripts/make-digits.sh bundled DIR   the small set committed in Audio/digits (80 clips)
#   Scripts/make-digits.sh full DIR      the training corpus (about 2,000 clips)
#
# espeak-ng 1.51 (Debian 12) ignores the variant of 'en-gb' ('en-gb+f1' is byte-identical
# to 'en-gb'), so en-gb is used without variants. The run ends by checking that no two
# clips are identical, and fails if any are.
# Needs espeak-ng and sox (Scripts/setup.sh installs both).
set -euo pipefail

mode=${1:-}
out=${2:-}
if [[ -z "$mode" || -z "$out" || ( "$mode" != bundled && "$mode" != full ) ]]; then
  echo "usage: $0 bundled|full DIR" >&2
  exit 2
fi
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "$0: '$tool' is not installed (run Scripts/setup.sh)" >&2; exit 1; }
done

digits=(zero one two three four five six seven eight nine)
# Voices whose variants differ (checked with md5sum on espeak-ng 1.51).
accents=(en-us en-gb-scotland en-029 en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd)
variants=("" +m1 +m2 +m3 +m4 +m5 +m6 +m7 +f1 +f2 +f3 +f4)

jobs=()   # lines: digit voice speed pitch
if [[ "$mode" == bundled ]]; then
  for voice in en-us+m1 en-us+f2 en-gb en-gb-scotland+f3 en-029+m3 en-gb-x-rp+f4 en-gb-x-gbclan+m5 en-gb-x-gbcwmd+f1; do
    for digit in "${digits[@]}"; do jobs+=("$digit $voice 165 50"); done
  done
else
  voices=(en-gb)
  for accent in "${accents[@]}"; do
    for variant in "${variants[@]}"; do voices+=("$accent$variant"); done
  done
  # Three (speed, pitch) settings per voice, rotated so every voice gets a different mix.
  settings=("140 35" "165 50" "195 65" "150 70" "185 30")
  i=0
  for voice in "${voices[@]}"; do
    for k in 0 1 2; do
      setting=${settings[$(( (i + k) % ${#settings[@]} ))]}
      for digit in "${digits[@]}"; do jobs+=("$digit $voice $setting"); done
    done
    i=$((i + 1))
  done
fi

mkdir -p "$out"
for digit in "${digits[@]}"; do mkdir -p "$out/$digit"; done

make_clip() {
  local out=$1 digit=$2 voice=$3 speed=$4 pitch=$5
  local final="$out/$digit/${voice}_s${speed}_p${pitch}.wav"
  [[ -s "$final" ]] && return 0
  local raw tmp
  raw=$(mktemp --suffix=.wav) tmp="$out/$digit/.${voice}_s${speed}_p${pitch}.partial.wav"
  espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$raw" "$digit"
  # trim silence at both ends (the 'reverse' pair trims the tail), normalise, lead-in, 1 s
  sox -q -V1 "$raw" -r 16000 -c 1 -b 16 "$tmp" \
    silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse norm -3 pad 0.05 0.95 trim 0 1
  rm -f "$raw"
  mv "$tmp" "$final"
}
export -f make_clip

printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -L 1 bash -c 'make_clip "$0" "$@"' "$out"

count=$(find "$out" -name '*.wav' | wc -l)
dupes=$(find "$out" -name '*.wav' -exec md5sum {} + | sort | uniq -w32 -d | wc -l)
if [[ "$dupes" -ne 0 ]]; then
  echo "$0: $dupes groups of byte-identical clips in $out:" >&2
  find "$out" -name '*.wav' -exec md5sum {} + | sort | uniq -w32 -D >&2
  exit 1
fi
echo "$out: $count clips, all distinct"
