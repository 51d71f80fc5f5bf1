"""Synthesised soundtracks: each ``AudioEvent`` is a small, seeded signal scaled to an RMS level.

Hand-written on purpose: these are test signals with known onsets and levels, not music.
"""

from __future__ import annotations

import numpy as np

from sv6d.synth.spec import AudioEvent, VideoSpec


def _event_signal(ev: AudioEvent, sr: int, max_s: float | None = None) -> np.ndarray:
    """The event's samples; with ``max_s``, only its first ``max_s`` seconds (same values, less work), except
    that the RMS scaling always uses the whole event."""
    full = max(1, round(ev.dur_s * sr))
    if max_s is not None and max_s < ev.dur_s and ev.kind == "hum":
        # a steady tone: its level over a prefix equals its level over the whole event
        full = max(1, round(max_s * sr))
    n = full
    t = np.arange(n) / sr
    rng = np.random.default_rng(ev.seed)
    if ev.kind == "burst":
        sig = rng.standard_normal(n) * np.exp(-t / 0.15)
    elif ev.kind == "kick":
        f = 40.0 + 60.0 * np.exp(-t / 0.04)
        sig = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.18)
        sig[: min(n, sr // 200)] += rng.standard_normal(min(n, sr // 200)) * 0.5
    elif ev.kind == "hat":
        noise = rng.standard_normal(n)
        sig = np.diff(noise, prepend=0.0) * np.exp(-t / 0.03)
    elif ev.kind == "speech":
        # Harmonics of a wandering f0 gated by a syllable-rate envelope: speech-like, without words.
        f0 = ev.freq * (1.0 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.random() * 6))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        sig = np.sum([np.sin(k * phase) / k for k in range(1, 7)], axis=0)
        syll = np.clip(np.sin(2 * np.pi * rng.uniform(3.0, 5.0) * t + rng.random() * 6), 0, None) ** 0.7
        pauses = np.repeat(rng.random(int(ev.dur_s / 0.6) + 2) > 0.2, round(0.6 * sr))[:n]
        sig = sig * syll * pauses
    elif ev.kind == "hum":
        sig = np.sin(2 * np.pi * ev.freq * t) + 0.3 * np.sin(4 * np.pi * ev.freq * t)
    elif ev.kind == "pad":
        sig = np.sum(
            [np.sin(2 * np.pi * ev.freq * r * t + rng.random() * 6) for r in (1.0, 1.25, 1.5, 2.0)], axis=0
        )
        sig = sig * (0.8 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
    elif ev.kind == "impact":
        boom = np.sin(2 * np.pi * 50.0 * t) * np.exp(-t / 0.5)
        sig = boom + 0.6 * rng.standard_normal(n) * np.exp(-t / 0.2)
    elif ev.kind == "swell":
        sig = rng.standard_normal(n) * np.linspace(0.05, 1.0, n) ** 2
    else:  # pragma: no cover - AudioKind is closed
        raise ValueError(f"unknown audio event kind {ev.kind!r}")
    sig = np.asarray(sig, dtype=np.float64)
    rms = float(np.sqrt(np.mean(sig**2))) or 1.0
    return sig * (10 ** (ev.level_db / 20.0) / rms)


def synth_audio(spec: VideoSpec, until_s: float | None = None) -> np.ndarray:
    """The mono soundtrack of ``spec`` as float32 in [-1, 1], ``duration_s * sample_rate`` long (or only its
    first ``until_s`` seconds)."""
    sr = spec.sample_rate
    end = spec.duration_s if until_s is None else min(until_s, spec.duration_s)
    out = np.zeros(round(end * sr), dtype=np.float64)
    for ev in spec.audio:
        start = round(ev.start_s * sr)
        if start >= out.size:
            continue
        sig = _event_signal(ev, sr, max_s=(out.size - start) / sr)[: out.size - start]
        out[start : start + sig.size] += sig
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def rms_db(audio: np.ndarray, sr: int, start_s: float, end_s: float) -> float:
    """RMS level in dBFS of ``audio`` over ``[start_s, end_s)``; -120 for digital silence."""
    seg = audio[round(start_s * sr) : round(end_s * sr)].astype(np.float64)
    if seg.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(seg**2)))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0
