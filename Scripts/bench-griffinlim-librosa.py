#!/usr/bin/env python3
"""librosa.griffinlim on the clips melforge-bench griffinlim takes (at most 10, evenly spaced):
32 iterations, momentum 0.99, random start, n_fft 1024, hop 256, reflect padding; prints ms per
audio second (median of 5) and the mean spectral convergence. A reference without torch:
  python3 -m venv V && V/bin/pip install librosa soundfile && V/bin/python Scripts/bench-griffinlim-librosa.py DIR
"""
import sys, time, glob, numpy as np, soundfile as sf, librosa
files = sorted(glob.glob(sys.argv[1] + "/**/*.wav", recursive=True))
if len(files) > 10: files = [files[int(round(i * (len(files) - 1) / 9))] for i in range(10)]
clips = [librosa.resample(y, orig_sr=sr, target_sr=16000) if sr != 16000 else y for y, sr in (sf.read(f, dtype="float32") for f in files)]
S = [np.abs(librosa.stft(y, n_fft=1024, hop_length=256, pad_mode="reflect")) for y in clips]
secs = sum(len(y) for y in clips) / 16000
times = []
for run in range(5):
    t = time.perf_counter()
    out = [librosa.griffinlim(s, n_iter=32, hop_length=256, momentum=0.99, init="random", random_state=0, length=len(y), pad_mode="reflect") for s, y in zip(S, clips)]
    times.append(time.perf_counter() - t)
sc = [np.linalg.norm(s - np.abs(librosa.stft(x, n_fft=1024, hop_length=256, pad_mode="reflect"))) / np.linalg.norm(s) for s, x in zip(S, out)]
print(f"librosa_gl {1e3 * np.median(times) / secs:8.2f} ms per audio-s  SC mean {np.mean(sc):.4f}  ({len(files)} clips, {secs:.2f} s, librosa {librosa.__version__})")
