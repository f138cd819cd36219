#!/usr/bin/env python3
"""The reference for `melforge convert`: librosa + multiprocessing doing the same whole job.

usage: python Scripts/bench-convert.py INPUT_DIR OUTPUT_DIR [--jobs 2] [--n-mels 80]

Every .wav under INPUT_DIR -> OUTPUT_DIR/<same path>.npy holding
librosa.power_to_db(librosa.feature.melspectrogram(y, sr=16000, n_fft=1024, hop_length=256,
n_mels=N), ref=1.0, amin=1e-10, top_db=None) for y = librosa.load(path, sr=16000)[0]; one
process per job, files handed out in chunks. Prints files/s and audio-seconds per second.
Development only (needs librosa); MelForge never runs it.
"""
import argparse
import multiprocessing
import os
import time
from pathlib import Path


def convert(job):
    source, target, n_mels = job
    import librosa
    import numpy as np
    y, _ = librosa.load(source, sr=16000)
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, n_mels=n_mels)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    np.save(target, librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32))
    return len(y) / 16000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n-mels", type=int, default=80)
    args = parser.parse_args()
    files = sorted(Path(args.input).rglob("*.wav"))
    jobs = [(str(f), str(Path(args.output) / f.relative_to(args.input).with_suffix(".npy")), args.n_mels) for f in files]
    with multiprocessing.Pool(args.jobs, initializer=lambda: __import__("librosa")) as pool:
        pool.map(convert, jobs[:args.jobs])  # warm-up: imports and numba compilation in every worker
        start = time.perf_counter()
        audio = sum(pool.map(convert, jobs, chunksize=16))
        seconds = time.perf_counter() - start
    print(f"librosa+multiprocessing ({args.jobs} processes): {len(files)} files in {seconds:.2f} s, "
          f"{len(files) / seconds:.1f} files/s, {audio / seconds:.0f}x real time")


if __name__ == "__main__":
    main()
