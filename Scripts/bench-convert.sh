#!/usr/bin/env bash
# Batch-conversion benchmark: melforge convert beside librosa + multiprocessing, whole job
# (read, log-mel, write .npy files) on the same folder, in one run. Prints; records nothing.
#   Scripts/bench-convert.sh [CORPUS_DIR]      default: .build-corpus/digits (made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-.build-corpus/digits}
PY=${PY:-$HOME/.cache/melforge-anchors/venv/bin/python}
[[ -d "$corpus" ]] || Scripts/make-digits.sh full "$corpus"
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
# Every run writes into fresh folders and nothing is deleted until the end: right after
# thousands of files are deleted, ext4 (without a journal, as here) skips the freed inodes
# for a minute or more and creating files slows down for whoever writes next. Each job
# starts with the disk idle (`sync`): librosa's np.save leaves its 44 MB to be written back
# after it stops the clock, and that write-back would otherwise fall on the next job.
for run in 1 2 3; do
  out="$work/run$run"
  if [[ -x "$PY" ]]; then sync; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" Scripts/bench-convert.py "$corpus" "$out/librosa" --jobs 2; fi
  sync; echo -n "melforge npy:    "; "$melforge" convert "$corpus" -o "$out/melforge" 2>/dev/null | tail -1
  sync; echo -n "melforge shards: "; "$melforge" convert "$corpus" -o "$out/shards" --format shards 2>/dev/null | tail -1
  sync; echo -n "melforge shards --shard-size 8: "; "$melforge" convert "$corpus" -o "$out/shards8" --format shards --shard-size 8 2>/dev/null | tail -1
done
