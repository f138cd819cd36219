#!/usr/bin/env bash
# kill -9 at random moments, N times per job, each time resumed: train vae and train gan
# (im2col fp32, bit-reproducible: the final checkpoint must equal an uninterrupted run's bit for
# bit), train vocoder, classifier train, steer and convert (each must complete). After every
# kill: no partial file anywhere and the checkpoint left loads. Tiny models on the bundled
# digits and a made-up MNIST file, under a temporary folder (KEEP=1 keeps it).
#
#   Scripts/kill-test.sh [N]     (default 20 kills per job)
#   JOBS="convert steer" Scripts/kill-test.sh 20   (some of: vae gan vocoder classifier steer convert)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
JOBS=${JOBS:-"vae gan vocoder classifier steer convert"}
want() { [[ " $JOBS " == *" $1 "* ]]; }
swift build -c release --product melforge >/dev/null
melforge="$(swift build -c release --show-bin-path)/melforge"
work=$(mktemp -d)
[[ -n "${KEEP:-}" ]] || trap 'rm -rf "$work"' EXIT
digits=Audio/digits
python3 - "$work/images" <<'PY'
import sys
out = bytearray([0, 0, 8, 3, 0, 0, 0, 16, 0, 0, 0, 28, 0, 0, 0, 28])
for n in range(16):
    for y in range(28):
        for x in range(28):
            out.append(255 if abs(x - n - 6) < 2 or y == n + 6 else 0)
open(sys.argv[1], "wb").write(out)
PY

fail() { echo "kill-test: $*" >&2; exit 1; }
# A partial file of an atomic write (".NAME.partial-*") anywhere under $1 fails the test.
no_partials() {
  local found
  found=$(find "$1" -name '.*.partial-*' 2>/dev/null | head -3)
  [[ -z "$found" ]] || fail "partial files left: $found"
}
# Each job is long enough (its steps, epochs or files scale with N) for all N kills to land.
# Runs "$@" in the background and kills it with SIGKILL after a random 0.05-1.5 s; returns
# 0 if it was killed, 1 if it finished first (with its status checked).
run_and_kill() {
  "$@" >"$work/last.out" 2>&1 &
  local pid=$! delay
  delay=$(python3 -c "import random; print(round(random.uniform(0.05, 1.5), 3))")
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; return 0; fi
  wait "$pid" || fail "$* failed: $(tail -3 "$work/last.out")"
  return 1
}
# kill_and_resume NAME OUTPUT CHECK COMMAND... (COMMAND gets --resume once OUTPUT exists).
kill_and_resume() {
  local name=$1 output=$2 check=$3 killed=0 finished=0 started
  shift 3
  started=$(date +%s)
  for ((i = 0; i < kills; i++)); do
    local resume=()
    [[ -e "$output" ]] && resume=(--resume)
    if run_and_kill "$@" "${resume[@]}"; then killed=$((killed + 1)); else finished=1; break; fi
    no_partials "$work"
    [[ -e "$output" ]] && { $check "$output" || fail "$name: '$output' does not load after a kill"; }
  done
  if (( ! finished )); then
    local resume=()
    [[ -e "$output" ]] && resume=(--resume)
    "$@" "${resume[@]}" >"$work/last.out" 2>&1 || fail "$name: the last resume failed: $(tail -3 "$work/last.out")"
  fi
  no_partials "$work"
  echo "$name: $killed kills, resumed to the end ($(( $(date +%s) - started )) s)"
}
loads() { "$melforge" synthesize --checkpoint "$1" -o "$work/probe" --count 1 >/dev/null 2>&1; rm -rf "$work/probe"; }
loads_file() { python3 -c "import sys, json, struct; f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; json.loads(f.read(n))" "$1"; }

for model in vae gan; do
  want "$model" || continue
  args=(train "$model" --images "$work/images" --batch-size 4 --widths 4,8 --latent-size 4 --engine im2col --seed 3
        --steps $((200 * kills)) --checkpoint-every 1 --log-every 1000)
  kill_and_resume "train $model" "$work/$model/checkpoint.safetensors" loads "$melforge" "${args[@]}" --out "$work/$model"
  "$melforge" "${args[@]}" --out "$work/$model-whole" >/dev/null 2>&1
  python3 - "$work/$model/checkpoint.safetensors" "$work/$model-whole/checkpoint.safetensors" <<'PY' || fail "train $model: the resumed run differs from the uninterrupted one"
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items()}, meta
(a, ma), (b, mb) = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a == b and ma.get("random_state") == mb.get("random_state") and ma.get("step") == mb.get("step"), "differ"
print(f"  equal to the uninterrupted run bit for bit ({len(a)} tensors, step {ma.get('step')})")
PY
done
want vocoder && kill_and_resume "train vocoder" "$work/vocoder/checkpoint.safetensors" loads_file "$melforge" train vocoder --data "$digits" \
  --out "$work/vocoder" --steps $((60 * kills)) --batch-size 4 --width 8 --blocks 1 --segment-frames 8 --checkpoint-every 1
want steer && "$melforge" train vae --data "$digits" --batch-size 4 --widths 4,8 --latent-size 4 --engine im2col \
  --steps 20 --out "$work/generator" >/dev/null 2>&1
want classifier && kill_and_resume "classifier train" "$work/judge.safetensors" loads_file "$melforge" classifier train --data "$digits" \
  -o "$work/judge.safetensors" --epochs $((50 * kills)) --widths 4,8,8,8
want steer && kill_and_resume "steer" "$work/policy.safetensors" loads_file "$melforge" steer --checkpoint "$work/generator" \
  --reward loudness:-20 -o "$work/policy.safetensors" --steps $((60 * kills)) --save-every 1 --eval-count 8
if want convert; then
  # The bundled clips 10 N times over (links), converted with a heavy front end on one thread,
  # so that the conversion lasts long enough to be killed N times.
  for ((copy = 0; copy < 10 * kills; copy++)); do
    mkdir -p "$work/clips/$copy"
    cp -rs "$PWD/$digits/." "$work/clips/$copy/"
  done
  kill_and_resume "convert" "$work/features/manifest.jsonl" true "$melforge" convert "$work/clips" -o "$work/features" \
    --jobs 1 --n-fft 4096 --hop-length 32 --n-mels 128
  total=$(find "$work/clips" -name '*.wav' | wc -l)
  npys=$(find "$work/features" -name '*.npy' | wc -l)
  (( npys == total )) || fail "convert: $npys .npy files for $total clips"
  echo "  convert: $npys of $total clips converted"
fi
echo "kill-test: every job ($JOBS) resumed to the end after up to $kills kills each, no partial files"
