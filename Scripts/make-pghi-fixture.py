#!/usr/bin/env python3
"""A reference for MelForge's Phase Gradient Heap Integration, from an outside
implementation: pghipy (Bender & Pepino, MIT licence; PGHI after Prusa, Balazs and
Sondergaard 2017).

usage: python Scripts/make-pghi-fixture.py      (needs pghipy and numpy)

Writes Tests/SpectralTests/Fixtures/pghi_chirp_magnitude.npy (|STFT| [bins, frames] of a
2 s linear chirp from 200 to 1,600 Hz at 16 kHz: periodic Hann, n_fft 1024, hop 256,
centred frames with zero padding, as MelForge's STFT and librosa compute it) and
pghi_chirp_phase.npy (pghipy's phase of that magnitude, gamma = 0.25645 x 1024^2), each with
its JSON. The Swift test runs MelForge's PGHI on the same magnitude and compares phases.
"""
import json
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pghipy

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "SpectralTests" / "Fixtures"
N_FFT, HOP, RATE = 1024, 256, 16000
GAMMA = 0.25645 * N_FFT**2


def magnitude(signal):
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    padded = np.pad(signal, N_FFT // 2)
    frames = 1 + (len(padded) - N_FFT) // HOP
    spectra = [np.fft.rfft(window * padded[t * HOP:t * HOP + N_FFT]) for t in range(frames)]
    return np.abs(np.array(spectra)).T  # [bins, frames]


def save(name, array, call):
    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(OUT / f"{name}.npy", array)
    versions = {"pghipy": version("pghipy"), "numba": version("numba"), "numpy": np.__version__,
                "python": platform.python_version()}
    meta = {"call": call, "shape": list(array.shape), "versions": versions}
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{name}: {array.shape}")


def main():
    t = np.arange(2 * RATE) / RATE
    chirp = 0.5 * np.sin(2 * np.pi * (200 * t + 350 * t * t))
    s = magnitude(chirp).astype(np.float32)
    save("pghi_chirp_magnitude", s, "|STFT| of 0.5 sin(2 pi (200 t + 350 t^2)), 2 s at 16 kHz; "
         "periodic Hann, n_fft 1024, hop 256, centred, zero padding")
    # pghipy takes [frames, bins]; its phase is measured from each frame's first sample.
    phase = pghipy.pghi(s.T.astype(np.float64).copy(), win_length=N_FFT, hop_length=HOP, gamma=GAMMA, tol=1e-6)
    save("pghi_chirp_phase", phase.T, f"pghipy.pghi(magnitude.T, win_length={N_FFT}, hop_length={HOP}, "
         f"gamma=0.25645 * {N_FFT}**2, tol=1e-6).T")


if __name__ == "__main__":
    main()
