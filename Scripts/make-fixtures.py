#!/usr/bin/env python3
"""Reference files for MelForge's tests: librosa arrays (Tests/SpectralTests/Fixtures) and a
safetensors file written by the reference implementation (Tests/FileFormatsTests/Fixtures).

usage: python Scripts/make-fixtures.py      (needs librosa, soundfile, numpy, safetensors)

Every fixture is NAME.npy (float32) beside NAME.json, which records the exact call that
made it and the versions of librosa, numpy, soundfile and soxr. Inputs the Swift tests
also need (a test signal, a stereo 44.1 kHz file) are written here too, so both sides
compute from the same samples. The tests only read these files; rerun this script only
to change them, and commit the result.
"""
import json
import platform
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import soxr
import safetensors
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "SpectralTests" / "Fixtures"
VERSIONS = {"librosa": librosa.__version__, "numpy": np.__version__, "soundfile": sf.__version__,
            "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__,
            "libsoxr": soxr.__libsoxr_version__, "python": platform.python_version()}


def save(name, array, call, **extra):
    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(OUT / f"{name}.npy", array)
    meta = {"call": call, "shape": list(array.shape), "versions": VERSIONS, **extra}
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{name}: {array.shape}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)

    # Mel filter banks: librosa's default, HTK with and without area normalisation, band limits.
    for name, kwargs in [
        ("mel_slaney_sr16000_nfft1024_m80", dict(sr=16000, n_fft=1024, n_mels=80)),
        ("mel_htk_sr22050_nfft2048_m128_f50-8000", dict(sr=22050, n_fft=2048, n_mels=128, fmin=50, fmax=8000, htk=True)),
        ("mel_htk_sr16000_nfft512_m40_nonorm", dict(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None)),
        ("mel_slaney_sr8000_nfft256_m32_f100-3800_nonorm", dict(sr=8000, n_fft=256, n_mels=32, fmin=100, fmax=3800, norm=None)),
    ]:
        save(name, librosa.filters.mel(**kwargs), f"librosa.filters.mel(**{kwargs})", kwargs=kwargs)

    # A reproducible test signal: two tones, a chirp and noise, 4000 samples at 16 kHz.
    rng = np.random.default_rng(7)
    t = np.arange(4000) / 16000
    signal = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (300 + 4000 * t) * t)
              + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    save("signal_4000", signal, "two tones + chirp + noise, seed 7")

    for name, kwargs in [
        ("stft_mag_nfft512_hop128_hann_center_constant", dict(n_fft=512, hop_length=128)),
        ("stft_mag_nfft512_hop100_win400_hamming_center_reflect",
         dict(n_fft=512, hop_length=100, win_length=400, window="hamming", pad_mode="reflect")),
        ("stft_mag_nfft256_hop64_blackman_nocenter", dict(n_fft=256, hop_length=64, window="blackman", center=False)),
    ]:
        save(name, np.abs(librosa.stft(signal, **kwargs)), f"np.abs(librosa.stft(signal_4000, **{kwargs}))", kwargs=kwargs)

    # The CLI's default: a bundled clip, and a stereo 44.1 kHz 24-bit file that must be mixed and resampled.
    clip = ROOT / "Audio" / "digits" / "seven" / "en-us+f2_s165_p50.wav"
    stereo = OUT / "stereo_44100_pcm24.wav"
    t = np.arange(int(0.75 * 44100)) / 44100
    left = 0.6 * np.sin(2 * np.pi * (200 + 3000 * t) * t)
    right = 0.3 * np.sin(2 * np.pi * 1000 * t) * np.exp(-2 * t)
    sf.write(stereo, np.stack([left, right], axis=1), 44100, subtype="PCM_24")

    call = ("librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, "
            "n_mels=80), ref=1.0, amin=1e-10, top_db=None) with y = librosa.load(FILE, sr=16000)[0]")
    for name, path in [("logmel_default_digit_seven", clip), ("logmel_default_stereo_44100", stereo)]:
        y, _ = librosa.load(path, sr=16000)
        if path == stereo:
            save("load_stereo_44100_at_16000", y, "librosa.load(stereo_44100_pcm24.wav, sr=16000)[0]")
        S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, n_mels=80)
        save(name, librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None), call,
             file=str(path.relative_to(ROOT)))

    # Magnitude (power 1) HTK mel in dB with top_db, on the test signal.
    M = librosa.feature.melspectrogram(y=signal, sr=16000, n_fft=512, hop_length=128, n_mels=40,
                                       power=1.0, htk=True, fmin=20, fmax=7000)
    save("amplitude_db_htk_m40_topdb60", librosa.amplitude_to_db(M, ref=1.0, amin=1e-5, top_db=60),
         "librosa.amplitude_to_db(librosa.feature.melspectrogram(y=signal_4000, sr=16000, n_fft=512, "
         "hop_length=128, n_mels=40, power=1.0, htk=True, fmin=20, fmax=7000), ref=1.0, amin=1e-5, top_db=60)")

    # Griffin-Lim from |STFT| with zero initial phase (init=None), momentum 0 and 0.99.
    stft_kw = dict(n_fft=512, hop_length=128)
    S = np.abs(librosa.stft(signal, **stft_kw))
    save("gl_input_magnitude_nfft512_hop128", S, "np.abs(librosa.stft(signal_4000, n_fft=512, hop_length=128))")
    for momentum in (0.0, 0.99):
        for n_iter in (1, 8):
            y = librosa.griffinlim(S, n_iter=n_iter, momentum=momentum, init=None, length=len(signal), **stft_kw)
            save(f"gl_zero_init_momentum{momentum}_iter{n_iter}", y,
                 f"librosa.griffinlim(S, n_iter={n_iter}, momentum={momentum}, init=None, length=4000, "
                 "n_fft=512, hop_length=128)")

    # Mel power -> linear magnitude by NNLS (librosa.feature.inverse.mel_to_stft).
    M = librosa.feature.melspectrogram(y=signal, sr=16000, n_fft=512, hop_length=128, n_mels=40, power=2.0)
    save("mel_power_m40_nfft512_hop128", M, "librosa.feature.melspectrogram(y=signal_4000, sr=16000, n_fft=512, "
         "hop_length=128, n_mels=40, power=2.0)")
    save("mel_to_stft_m40_nfft512", librosa.feature.inverse.mel_to_stft(M, sr=16000, n_fft=512, power=2.0),
         "librosa.feature.inverse.mel_to_stft(M, sr=16000, n_fft=512, power=2.0)")

    # A checkpoint-like file from the safetensors reference implementation, several dtypes.
    st_out = ROOT / "Tests" / "FileFormatsTests" / "Fixtures"
    st_out.mkdir(parents=True, exist_ok=True)
    tensors = {
        "generator.conv1.weight": (np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) * 0.5 - 3),
        "generator.conv1.bias": np.array([1.5, -2.25], dtype=np.float32),
        "scalar": np.array(7.0, dtype=np.float32),
        "half": np.array([0.5, -1.0, 65504.0], dtype=np.float16),
        "double": np.array([[1e-3, 2.0]], dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    meta = {"config": '{"model": "gan", "latent": 100}', "writer": f"safetensors {safetensors.__version__}"}
    save_file(tensors, str(st_out / "reference.safetensors"), metadata=meta)
    (st_out / "reference.json").write_text(json.dumps(
        {"call": "safetensors.numpy.save_file(tensors, path, metadata=meta)", "versions": dict(VERSIONS, safetensors=safetensors.__version__),
         "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.astype(np.float64).ravel().tolist()}
                     for k, v in tensors.items()}, "metadata": meta}, indent=1) + "\n")
    print("reference.safetensors")


if __name__ == "__main__":
    main()
