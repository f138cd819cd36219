#!/usr/bin/env python3
"""librosa's mel -> audio beside MelForge's vocoders, on the same clips and the same features.

usage: vocoder-quality-librosa.py OUT

For every OUT/original/<clip>.wav (what `melforge-bench vocoders` wrote, 16 kHz): the 64-band
Slaney log-mel MelForge's vocoders read (n_fft 1024, hop 256, power 2, constant padding), then
librosa.feature.inverse.mel_to_audio (NNLS, then 32 Griffin-Lim iterations, momentum 0.99,
random start); writes OUT/librosa-griffinlim-32/<clip>.wav and adds its time (median of 3 runs
over the whole set, ms per audio second, one process) to OUT/timings.json, so that
Scripts/vocoder-quality.py scores it as one more row. Needs librosa and soundfile.
"""
import json
import os
import sys
import time

import librosa
import numpy as np
import soundfile

out = sys.argv[1]
originals = os.path.join(out, "original")
clips = sorted(os.path.relpath(os.path.join(d, f), originals)
               for d, _, files in os.walk(originals) for f in files if f.endswith(".wav"))
sounds = [soundfile.read(os.path.join(originals, c), dtype="float32")[0] for c in clips]
mels = [librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, n_mels=64, pad_mode="constant")
        for y in sounds]
seconds = sum(len(y) for y in sounds) / 16000
times, made = [], []
for _ in range(3):
    start = time.perf_counter()
    made = [librosa.feature.inverse.mel_to_audio(m, sr=16000, n_fft=1024, hop_length=256, n_iter=32, length=len(y),
                                                 pad_mode="constant") for m, y in zip(mels, sounds)]
    times.append(time.perf_counter() - start)
name = "librosa-griffinlim-32"
for clip, y in zip(clips, made):
    path = os.path.join(out, name, clip)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, y, 16000, subtype="FLOAT")
timings = json.load(open(os.path.join(out, "timings.json")))
per_second = 1e3 * float(np.median(times)) / seconds
timings[name] = {"ms_per_audio_second": per_second, "times_real_time": 1e3 / per_second,
                 "runs_seconds": times, "librosa": librosa.__version__}
json.dump(timings, open(os.path.join(out, "timings.json"), "w"), indent=2, sort_keys=True)
print(f"{name}: {per_second:.2f} ms per audio-second over {len(clips)} clips (librosa {librosa.__version__})")
