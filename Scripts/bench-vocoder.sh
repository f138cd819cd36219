#!/usr/bin/env bash
# Vocoder benchmark, MelForge beside librosa and torchaudio in one run (measures and prints).
#
#   Scripts/bench-vocoder.sh
#
# Two clip sets: 10 spoken digits from the corpus (synthetic, espeak-ng) and 8 recordings of
# real speech that Debian's alsa-utils ships (/usr/share/sounds/alsa, 48 kHz, "Front left"...).
# References: ../shared/bench/bench_griffinlim.py (development only) run with $PY.
set -euo pipefail
cd "$(dirname "$0")/.."
digits=.build-corpus/digits
speech=.build-corpus/speech
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
reference=../shared/bench/bench_griffinlim.py

[[ -d "$digits" ]] || Scripts/make-digits.sh full "$digits"
sets=("$digits")
if [[ -d /usr/share/sounds/alsa ]]; then
  mkdir -p "$speech"
  for f in /usr/share/sounds/alsa/{Front,Rear,Side}_*.wav; do cp -n "$f" "$speech/"; done
  sets+=("$speech")
else
  echo "note: /usr/share/sounds/alsa missing (apt-get install alsa-utils): real-speech set skipped"
fi
swift build -c release --product melforge-bench >/dev/null
bench="$(swift build -c release --show-bin-path)/melforge-bench"

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
if [[ -x "$PY" && -f "$reference" ]]; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" "${sets[@]}" --threads 2 --runs 5
fi
for set in "${sets[@]}"; do "$bench" griffinlim "$set" --threads 2 --runs 5; done
