#!/usr/bin/env bash
# Front-end benchmark, MelForge beside librosa and torchaudio in one run (a benchmark, not a
# test: it measures and prints). Results go into BENCHMARKS.md by hand, with this command.
#
#   Scripts/bench-frontend.sh [CORPUS_DIR]     default: .build-corpus (made if missing)
#
# The Python references are ../shared/bench/bench_frontend.py (development only) run with
# $PY (default: the anchors venv from ../shared/bench/setup_env.sh); without them only
# MelForge is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-.build-corpus/digits}
long=.build-corpus/long
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
reference=../shared/bench/bench_frontend.py

[[ -d "$corpus" ]] || Scripts/make-digits.sh full "$corpus"
if [[ ! -f "$long/ten-minutes.wav" ]]; then
  mkdir -p "$long"
  # 600 one-second clips end to end: a 10-minute 16 kHz file.
  mapfile -t clips < <(find "$corpus" -name '*.wav' | sort | head -n 600)
  sox -q -V1 --combine concatenate "${clips[@]}" "$long/ten-minutes.wav"
fi
swift build -c release --product melforge-bench >/dev/null
bench="$(swift build -c release --show-bin-path)/melforge-bench"

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
for target in "$corpus" "$long"; do
  echo "== $target"
  if [[ -x "$PY" && -f "$reference" ]]; then
    # OPENBLAS_CORETYPE/L2_SIZE slow a current numpy (the env skill's note): unset for the reference only.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" "$reference" "$target" --threads 2 --runs 5
  fi
  if [[ "$target" == "$long" ]]; then
    "$bench" frontend-long "$long/ten-minutes.wav" --threads 2 --runs 5
  else
    "$bench" frontend "$target" --threads 2 --runs 5
  fi
done
