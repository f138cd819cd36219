#!/usr/bin/env python3
"""Scores vocoded clips against their originals, as MelForge's vocoder benchmark reports them.

usage: vocoder-quality.py OUT [--json RESULT.json] [--only learned,pghi]

OUT is what `melforge-bench vocoders` wrote: OUT/original/<clip>.wav and OUT/<vocoder>/<clip>.wav
(16 kHz), with OUT/timings.json. For every vocoder, the mean over clips of:

- SC: spectral convergence ||M^ - M||_F / ||M||_F of |STFT| (n_fft 1024, hop 256, Hann);
- MR-LSD: log-spectral distance in dB, sqrt(mean over bins of (10 log10 P^/P)^2) per frame, averaged
  over frames, then over three resolutions (n_fft 512/1024/2048, hop a quarter);
- mel L1: mean |ln mel^ - ln mel| of an 80-band HTK mel power spectrogram (n_fft 1024, hop 256);
- SNR in dB (the waveform itself: phase counts);
- PESQ narrow- and wide-band (ITU-T P.862 via the `pesq` package) and STOI (`pystoi`).

Needs numpy, scipy, soundfile, pesq, pystoi (Scripts/bench-vocoder-quality.sh makes a venv).
"""
import json
import os
import sys
import warnings

import numpy as np
import soundfile
from pesq import pesq
from pystoi import stoi

EPS = 1e-10


def stft_power(x, n_fft, hop):
    window = np.hanning(n_fft + 1)[:-1].astype(np.float64)
    padded = np.pad(x.astype(np.float64), n_fft // 2)
    frames = 1 + (len(padded) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2  # [frames, bins]


def htk_mel_filters(rate, n_fft, bands):
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)
    edges = hz(np.linspace(mel(0), mel(rate / 2), bands + 2))
    bins = np.fft.rfftfreq(n_fft, 1 / rate)
    filters = np.zeros((bands, len(bins)))
    for b in range(bands):
        low, centre, high = edges[b], edges[b + 1], edges[b + 2]
        filters[b] = np.clip(np.minimum((bins - low) / (centre - low), (high - bins) / (high - centre)), 0, None)
    return filters


def scores(reference, made, rate, filters):
    n = min(len(reference), len(made))
    reference, made = reference[:n], made[:n]
    p, q = stft_power(reference, 1024, 256), stft_power(made, 1024, 256)
    sc = np.linalg.norm(np.sqrt(q) - np.sqrt(p)) / max(np.linalg.norm(np.sqrt(p)), EPS)
    lsd = []
    for n_fft in (512, 1024, 2048):
        a, b = stft_power(reference, n_fft, n_fft // 4), stft_power(made, n_fft, n_fft // 4)
        per_frame = np.sqrt(np.mean((10 * np.log10(b + EPS) - 10 * np.log10(a + EPS)) ** 2, axis=1))
        lsd.append(per_frame.mean())
    mel_l1 = np.mean(np.abs(np.log(q @ filters.T + 1e-5) - np.log(p @ filters.T + 1e-5)))
    noise = np.sum((reference - made) ** 2)
    snr = 10 * np.log10(np.sum(reference ** 2) / max(noise, EPS))
    result = {"sc": sc, "mr_lsd_db": float(np.mean(lsd)), "mel_l1": mel_l1, "snr_db": snr}
    # pystoi returns 1e-5 (with a warning) when too few 384 ms windows are left after it drops
    # the silent frames (a one-second digit): no measurement, so the clip has no STOI.
    intelligibility = stoi(reference, made, rate, extended=False)
    if intelligibility > 1e-5:
        result["stoi"] = intelligibility
    for mode in ("nb", "wb"):
        try:
            result["pesq_" + mode] = pesq(rate, reference, made, mode)
        except Exception:  # P.862 found no utterance (a clip too short or quiet): no PESQ for it
            pass
    return result


def main():
    warnings.filterwarnings("ignore", module="pystoi")
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    timings = json.load(open(os.path.join(out, "timings.json")))
    originals = os.path.join(out, "original")
    clips = sorted(os.path.relpath(os.path.join(d, f), originals)
                   for d, _, files in os.walk(originals) for f in files if f.endswith(".wav"))
    vocoders = [v for v in ["griffinlim-32", "pghi", "pghi+griffinlim-32", "learned"] if v in timings]
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1].split(",")
        vocoders = [v for v in vocoders if v in only]
    # librosa's mel_to_audio on the same features, when Scripts/vocoder-quality-librosa.py made it.
    if "librosa-griffinlim-32" in timings:
        vocoders.insert(0, "librosa-griffinlim-32")
    table = {}
    for vocoder in vocoders:
        rows = []
        for clip in clips:
            reference, rate = soundfile.read(os.path.join(originals, clip))
            made, _ = soundfile.read(os.path.join(out, vocoder, clip))
            filters = htk_mel_filters(rate, 1024, 80)
            rows.append(scores(reference, made, rate, filters))
        keys = sorted({k for row in rows for k in row})
        table[vocoder] = {k: float(np.mean([row[k] for row in rows if k in row])) for k in keys}
        table[vocoder]["counted"] = {k: sum(k in row for row in rows) for k in ("pesq_nb", "pesq_wb", "stoi")}
        table[vocoder]["ms_per_audio_second"] = timings[vocoder]["ms_per_audio_second"]
    print(f"{len(clips)} clips, {timings['audio_seconds']:.1f} s; {timings['learned_vocoder']}; {timings['threads']} threads")
    columns = [("sc", "SC", "%.3f"), ("mr_lsd_db", "MR-LSD dB", "%.2f"), ("mel_l1", "mel L1", "%.3f"),
               ("snr_db", "SNR dB", "%.1f"), ("pesq_nb", "PESQ-NB", "%.2f"), ("pesq_wb", "PESQ-WB", "%.2f"),
               ("stoi", "STOI", "%.3f"), ("ms_per_audio_second", "ms/audio-s", "%.2f")]
    print("| vocoder | " + " | ".join(name for _, name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for vocoder in vocoders:
        cells = [(fmt % table[vocoder][key]) if key in table[vocoder] else "-" for key, _, fmt in columns]
        print(f"| {vocoder} | " + " | ".join(cells) + " |")
    counted = table[vocoders[-1]]["counted"]
    print("clips with a score: " + ", ".join(f"{k} {v} of {len(clips)}" for k, v in counted.items())
          + " (P.862 finds no utterance in some short clips; STOI needs 30 windows of speech after removing silence)")
    if json_path:
        json.dump({"clips": len(clips), "timings": timings, "scores": table}, open(json_path, "w"), indent=2)


if __name__ == "__main__":
    main()
