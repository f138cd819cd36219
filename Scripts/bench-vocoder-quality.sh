#!/usr/bin/env bash
# The vocoders' quality and speed on speakers the learned vocoder never trained on (measures and
# prints; nothing is asserted). Two modes:
#
#   Scripts/bench-vocoder-quality.sh RECORDINGS_DIR [OUT_DIR]     real recorded speech (issue 26)
#   Scripts/bench-vocoder-quality.sh [RUN]                        the espeak corpus and alsa's clips
#
# Real recordings: a corpus with speakers in its file names (the Free Spoken Digit Dataset's
# recordings/ by default: a public repository's snapshot, never part of this project) is split by
# speaker: HELD_OUT speakers (default george and jackson; COUNT of their clips, default 200, are
# scored) are never trained on. A learned vocoder trains on the other speakers for PLAIN_MINUTES
# without discriminators; then the run forks: one copy goes on as it was, the other with
# --adversarial (the discriminators join at that step), each to MINUTES of training in all; a
# third run trains with the discriminators from its first step (scratch) for MINUTES. Every
# CURVE_MINUTES each run is stopped (SIGTERM: it writes its checkpoint), the held-out clips are
# vocoded and scored, and it resumes: the learning curve (PESQ-WB, PESQ-NB, STOI, MR-LSD, mel L1,
# x real time against training minutes). Griffin-Lim 32 from PGHI, PGHI alone and Griffin-Lim 32
# from a random phase are scored once on the same clips. Training minutes exclude the clips'
# preparation and the scoring. Each run takes both cores: nothing else should run beside it.
#
#   LAYOUT=fsdd HELD_OUT="george jackson" COUNT=200 PLAIN_MINUTES=20 MINUTES=60 CURVE_MINUTES=10
#   RUNS="plain adversarial scratch" ADVERSARIAL_FLAGS="" (more train vocoder flags for the adversarial runs;
#   a run named scratch-NAME is another from step 0, e.g. RUNS=scratch-speed ADVERSARIAL_FLAGS="--speed-perturb 0.9,1.1")
#
# The espeak corpus (no argument, or a run folder): a held-out share of the spoken-digit corpus,
# by voice (every tenth voice, counted from the third, never in the training folder), and the 8
# recordings of real speech Debian's alsa-utils ships. Without RUN, a vocoder is first trained on
# the rest of the corpus for MELFORGE_VOCODER_STEPS steps (default 45000, about an hour on 2
# cores) into .build-corpus/vocoder-run (resumed if there).
#
# Both: melforge-bench vocoders makes every clip's sound through the vocoders and times each;
# Scripts/vocoder-quality-librosa.py adds librosa's mel_to_audio (espeak mode); Scripts/vocoder-
# quality.py scores them (SC, multi-resolution LSD, mel L1, SNR, PESQ NB/WB, STOI) in a virtual
# environment this script makes.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=.build-corpus
venv=${VENV:-$HOME/.cache/melforge-vocoder-bench}

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy scipy soundfile pesq pystoi librosa
fi

if [[ $# -ge 1 && -d "$1" && ! -f "$1/checkpoint.safetensors" ]]; then
  # ---- Real recordings, split by speaker.
  data=$1
  out=${2:-out/bench-vocoder-real}
  LAYOUT=${LAYOUT:-fsdd}
  HELD_OUT=${HELD_OUT:-"george jackson"}
  COUNT=${COUNT:-200}
  PLAIN_MINUTES=${PLAIN_MINUTES:-20}
  MINUTES=${MINUTES:-60}
  CURVE_MINUTES=${CURVE_MINUTES:-10}
  RUNS=${RUNS:-"plain adversarial scratch"}
  [[ "$LAYOUT" == fsdd ]] || { echo "bench-vocoder-quality.sh: LAYOUT $LAYOUT has no speaker rule here (fsdd: {digit}_{speaker}_{n}.wav)" >&2; exit 2; }
  swift build -c release >/dev/null
  bin="$(swift build -c release --show-bin-path)"
  mkdir -p "$out"
  rm -rf "$out/train" "$out/heldout"
  mkdir -p "$out/train" "$out/heldout"
  speakers=($HELD_OUT)
  per_speaker=$(( (COUNT + ${#speakers[@]} - 1) / ${#speakers[@]} ))
  for clip in "$data"/*.wav; do
    name=$(basename "$clip"); speaker=$(echo "$name" | sed -E 's/^[^_]+_([^_]+)_.*/\1/')
    if [[ " $HELD_OUT " != *" $speaker "* ]]; then ln -s "$(realpath "$clip")" "$out/train/$name"; fi
  done
  for speaker in "${speakers[@]}"; do
    ls "$data" | grep -E "^[^_]+_${speaker}_" | sort -t_ -k3n -k1n | head -n "$per_speaker" \
      | while read -r name; do ln -s "$(realpath "$data/$name")" "$out/heldout/$name"; done
  done
  echo "== $(ls "$out/train" | wc -l) training clips; $(ls "$out/heldout" | wc -l) held-out clips of $HELD_OUT"
  echo "== $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $(date -u)"

  curve="$out/curve.txt"
  [[ -f "$curve" ]] || printf "%-12s %7s %6s %8s %8s %7s %8s %7s %7s\n" run minutes steps PESQ-WB PESQ-NB STOI MR-LSD melL1 xRT >"$curve"
  steps_of() { python3 -c "import json, struct, sys; f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; print(json.loads(f.read(n))['__metadata__']['step'])" "$1/checkpoint.safetensors"; }
  minutes_of() { cat "$1.minutes" 2>/dev/null || echo 0; }
  # Scores RUN's checkpoint on the held-out clips (the learned vocoder only; the others once).
  score() {
    local run=$1 label=$2 where="$out/scored-$(basename "$1")-$(minutes_of "$1")"
    rm -rf "$where"
    "$bin/melforge-bench" vocoders "$out/heldout" --vocoder "$run" --out "$where" --runs 3 --threads 2 --only learned >/dev/null
    "$venv/bin/python" Scripts/vocoder-quality.py "$where" --only learned --json "$where/scores.json" >/dev/null
    "$venv/bin/python" - "$where/scores.json" "$label" "$(minutes_of "$run")" "$(steps_of "$run")" >>"$curve" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["scores"]["learned"]; t = r["timings"]["learned"]
print("%-12s %7s %6s %8.2f %8.2f %7.3f %8.2f %7.3f %7.0f" % (sys.argv[2], sys.argv[3], sys.argv[4], s["pesq_wb"], s["pesq_nb"],
      s.get("stoi", float("nan")), s["mr_lsd_db"], s["mel_l1"], t["times_real_time"]))
PY
    tail -1 "$curve"
  }
  # Trains RUN for SECONDS more (stopped by SIGTERM: it writes its checkpoint), adding to RUN.minutes.
  train_for() {
    local run=$1 seconds=$2; shift 2
    "$bin/melforge" train vocoder --data "$out/train" --out "$run" --steps 100000000 --checkpoint-every 5000 --log-every 50 \
      --resume "$@" >>"$run.log" 2>&1 &
    local pid=$! started; started=$(date +%s)
    sleep "$seconds" || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    python3 -c "print(f'{$(minutes_of "$run") + ($(date +%s) - $started) / 60:.1f}')" >"$run.minutes"
  }
  plain="$out/plain"
  if [[ ! -f "$plain/checkpoint.safetensors" ]]; then
    # One step first: the clips' preparation (the data cache) stays out of the training minutes.
    "$bin/melforge" train vocoder --data "$out/train" --out "$plain" --steps 1 --checkpoint-every 1 --no-adversarial >"$plain.log" 2>&1
    echo 0 >"$plain.minutes"
    # The other vocoders, once, on the same held-out clips.
    where="$out/scored-others"
    "$bin/melforge-bench" vocoders "$out/heldout" --vocoder "$plain" --out "$where" --runs 3 --threads 2 \
      --only pghi,pghi+griffinlim-32,griffinlim-32 >/dev/null
    "$venv/bin/python" Scripts/vocoder-quality.py "$where" --json "$where/scores.json" | tee "$out/others.txt"
  fi
  while python3 -c "import sys; sys.exit(0 if $(minutes_of "$plain") < $PLAIN_MINUTES - 0.5 else 1)"; do
    train_for "$plain" $((CURVE_MINUTES * 60)) --no-adversarial; score "$plain" plain
  done
  [[ -d "$out/adversarial" ]] || { cp -a "$plain" "$out/adversarial"; cp "$plain.minutes" "$out/adversarial.minutes"; }
  # scratch, scratch-NAME: with the discriminators from the first step; one step first, so that
  # the clips' preparation (their own cache: ADVERSARIAL_FLAGS may change it) stays out of the
  # training minutes.
  for run in $RUNS; do
    if [[ "$run" == scratch* && ! -d "$out/$run" ]]; then
      # shellcheck disable=SC2086
      "$bin/melforge" train vocoder --data "$out/train" --out "$out/$run" --steps 1 --checkpoint-every 1 --adversarial \
        ${ADVERSARIAL_FLAGS:-} >"$out/$run.log" 2>&1
      echo 0 >"$out/$run.minutes"
    fi
  done
  for run in $RUNS; do
    flags=(--no-adversarial); [[ "$run" == adversarial || "$run" == scratch* ]] && flags=(--adversarial ${ADVERSARIAL_FLAGS:-})
    while python3 -c "import sys; sys.exit(0 if $(minutes_of "$out/$run") < $MINUTES - 0.5 else 1)"; do
      train_for "$out/$run" $((CURVE_MINUTES * 60)) "${flags[@]}"; score "$out/$run" "$run"
    done
  done
  echo "== learning curves (held-out speakers $HELD_OUT, $(ls "$out/heldout" | wc -l) clips)"; cat "$curve"
  exit 0
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
    --steps "${MELFORGE_VOCODER_STEPS:-45000}" --checkpoint-every 1000 --log-every 100 --no-adversarial $resume
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
