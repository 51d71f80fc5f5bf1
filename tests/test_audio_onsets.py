"""Audio onsets on sound that went through a real AAC encode and decode (the codec's frame-to-frame jitter is
what made held sounds read as onsets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder.evidence.audio import analyse_audio

SR = 16000


def held_chord(seconds: float, seed: int) -> np.ndarray:
    """Four partials with a slow 0.3 Hz swell, like the generator's pad: no attack anywhere."""
    t = np.arange(round(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    f = rng.uniform(110, 260)
    sig = sum(np.sin(2 * np.pi * f * r * t + rng.random() * 6) for r in (1.0, 1.25, 1.5, 2.0))
    return 0.03 * sig * (0.8 + 0.2 * np.sin(2 * np.pi * 0.3 * t))


def kicks(seconds: float, at: list[float]) -> np.ndarray:
    out = np.zeros(round(seconds * SR))
    t = np.arange(round(0.3 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(40.0 + 60.0 * np.exp(-t / 0.04)) / SR) * np.exp(-t / 0.18)
    kick *= np.clip((0.3 - t) / 0.1, 0, 1)  # a smooth end: a cut-off tail would click (a real onset)
    for s in at:
        i = round(s * SR)
        out[i : i + kick.size] += 0.3 * kick[: out.size - i]
    return out


def through_aac(signal: np.ndarray, tmp: Path) -> np.ndarray:
    """Encode mono float audio to AAC in an .m4a with PyAV and decode it back to 16 kHz mono float."""
    import av

    path = tmp / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        frame_len = 1024
        data = np.clip(signal, -1, 1).astype(np.float32)
        for start in range(0, data.size, frame_len):
            frame = av.AudioFrame.from_ndarray(
                data[None, start : start + frame_len], format="flt", layout="mono"
            )
            frame.sample_rate = SR
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    chunks = []
    with av.open(str(path)) as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for frame in inp.decode(audio=0):
            chunks += [f.to_ndarray().ravel() for f in resampler.resample(frame)]
    return np.concatenate(chunks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_held_chord_has_no_onsets(tmp_path: Path, seed: int) -> None:
    track = analyse_audio(through_aac(held_chord(4.0, seed), tmp_path), SR)
    assert track.present
    assert track.onset_rate(0.2, 3.8) == 0.0, track.onset_times_s


def test_kicks_over_a_held_chord_are_found_at_their_times(tmp_path: Path) -> None:
    at = [0.5, 1.3, 2.1, 2.9]
    track = analyse_audio(through_aac(held_chord(4.0, 0) + kicks(4.0, at), tmp_path), SR)
    found = track.onset_times_s[(track.onset_times_s > 0.2) & (track.onset_times_s < 3.8)]
    assert len(found) == len(at), found
    # AAC's priming delay and the 20 ms hop: each onset within 70 ms of its kick
    assert np.abs(found - np.asarray(at)).max() < 0.07, found
