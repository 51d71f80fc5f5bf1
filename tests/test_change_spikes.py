"""Change spikes (``encoder.evidence.whole.change_spikes``): a cut-like frame stands out from the frames
around it that are not repeats. Frame-rate conversion repeats frames in a pattern; counted as neighbours,
the repeats halved the local median and every real frame after one read as a cut (evidence-1.8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from encoder.evidence.features import SPIKE_EVENT
from encoder.evidence.whole import REPEAT_DIFF, spikes_from_differences


def test_repeated_frames_are_not_neighbours_and_a_jump_among_them_stands_out() -> None:
    # a 12 fps take shown at 24 fps: every other frame repeats (difference ~0), the others change by 5 levels
    d = np.tile([0.05, 5.0], 20)
    d[21] = 40.0  # a jump cut
    spikes = spikes_from_differences(d)
    assert list(np.flatnonzero(spikes > SPIKE_EVENT)) == [21]
    assert spikes[d < REPEAT_DIFF].max() == 0.0


def test_no_real_neighbour_measures_against_the_noise_floor_alone() -> None:
    d = np.array([0.0, 0.01, 0.02, 12.0, 0.01, 0.0])  # a still picture and one change
    spikes = spikes_from_differences(d)
    assert spikes[3] == pytest.approx(12.0 / 2.0)  # SPIKE_NOISE = 2 grey levels
    assert spikes_from_differences(np.zeros(2)).tolist() == [0.0, 0.0]


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (Debian package ffmpeg)")
def test_jump_cuts_in_converted_footage_are_found_without_false_events(
    shared_data: Path, tmp_path: Path
) -> None:
    """kinetics_test.avi re-cut by the hook benchmark's renderer (render seed 1: jump cuts and a caption over
    one take, both at another frame rate than the source's). Measured before evidence-1.8: the 3 jump cuts
    found with 12 false events, and 28 false events in the caption clip; after: 1 and 5."""
    from encoder.decode import DecodeConfig, decode
    from encoder.evidence.whole import change_spikes
    from sv6d.hookbench import render_benchmark

    clips = render_benchmark(
        shared_data / "videos", tmp_path, ["kinetics_test.avi"], ["jump_cuts", "caption_hook"], seed=1
    )
    found = {}
    for c in clips:
        decoded = decode(c.path, DecodeConfig(min_duration_s=0.0))
        t = np.asarray(decoded.thumb_times_s)
        spikes = change_spikes(np.asarray(decoded.thumbs))
        found[c.style] = (c.params, t[(spikes > SPIKE_EVENT) & (t > 0.05) & (t < 2.95)])
    params, events = found["jump_cuts"]
    cuts = [k * params["piece_s"] for k in range(1, params["cuts"] + 1)]
    hits = [x for x in cuts if np.any(np.abs(events - x) < 0.09)]
    assert len(hits) == len(cuts), (cuts, events)
    assert len(events) - len(hits) <= 2, (cuts, events)
    assert len(found["caption_hook"][1]) <= 6, found["caption_hook"][1]
