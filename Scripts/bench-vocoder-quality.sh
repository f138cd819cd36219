#!/usr/bin/env bash
# The vocoders' quality and speed on clips the learned vocoder never trained on (measures and
# prints; nothing is asserted):
#
#   Scripts/bench-vocoder-quality.sh [RUN]
#
# Two sets: a held-out share of the spoken-digit corpus, by voice (every tenth voice, counted
# from the third, never in the training folder), and the 8 recordings of real speech Debian's
# alsa-utils ships. Without RUN, a vocoder is first trained on the rest of the corpus for
# MELFORGE_VOCODER_STEPS steps (default 45000, about an hour on 2 cores) into
# .build-corpus/vocoder-run (resumed if there). melforge-bench vocoders makes every clip's sound
# through Griffin-Lim 32 (random start), PGHI, PGHI + Griffin-Lim 32 and the learned vocoder and
# times each; Scripts/vocoder-quality-librosa.py adds librosa's mel_to_audio on the same clips as
# the outside reference; Scripts/vocoder-quality.py scores them all (SC, multi-resolution LSD,
# mel L1, SNR, PESQ NB/WB, STOI) in a virtual environment this script makes.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=.build-corpus
venv=${VENV:-$HOME/.cache/melforge-vocoder-bench}

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy scipy soundfile pesq pystoi librosa
fi

[[ -d "$corpus/digits" ]] || Scripts/make-digits.sh full "$corpus/digits"
if [[ ! -d "$corpus/digits-train" ]]; then
  # Held out by voice: all of a voice's clips (every digit, speed and pitch) on one side.
  held=$(find "$corpus/digits" -name '*.wav' -printf '%f\n' | sed 's/_s.*//' | sort -u | awk 'NR % 10 == 3')
  for f in "$corpus"/digits/*/*.wav; do
    voice=$(basename "$f" | sed 's/_s.*//')
    side=train
    grep -qxF -- "$voice" <<<"$held" && side=heldout
    mkdir -p "$corpus/digits-$side/$(basename "$(dirname "$f")")"
    ln -sf "$(realpath "$f")" "$corpus/digits-$side/$(basename "$(dirname "$f")")/"
  done
fi
if [[ -d /usr/share/sounds/alsa ]]; then
  mkdir -p "$corpus/speech"
  for f in /usr/share/sounds/alsa/{Front,Rear,Side}_*.wav; do cp -n "$f" "$corpus/speech/"; done
fi

swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)"
run=${1:-$corpus/vocoder-run}
if [[ $# -eq 0 ]]; then
  [[ -f "$run/checkpoint.safetensors" ]] && resume=--resume || resume=
  "$bin/melforge" train vocoder --data "$corpus/digits-train" --out "$run" \
    --steps "${MELFORGE_VOCODER_STEPS:-45000}" --checkpoint-every 1000 --log-every 100 $resume
fi

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; date -u
for set in digits-heldout speech; do
  [[ -d "$corpus/$set" ]] || continue
  out="$corpus/vocoded-$set"
  rm -rf "$out"
  echo "== $set"
  "$bin/melforge-bench" vocoders "$corpus/$set" --vocoder "$run" --out "$out" --runs 3 --threads 2
  OMP_NUM_THREADS=2 "$venv/bin/python" Scripts/vocoder-quality-librosa.py "$out"
  "$venv/bin/python" Scripts/vocoder-quality.py "$out" --json "$out/scores.json"
done
