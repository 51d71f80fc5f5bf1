"""Similar hooks match by structure, not by what is shown: real footage re-cut into different openings.

Each of several real videos is re-cut with each opening style. A hook search must rank a video with the same
opening on *different* footage above the same footage opened in a different way.
"""

from __future__ import annotations

import tempfile
from itertools import product
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

FOOTAGE = ["chaplin.mp4", "testvideo.mp4", "big_buck_bunny_0_30.webm", "kinetics_demo.mp4"]
OPENINGS = ["fast_cuts", "slow_push_in", "text_card_open", "flash_open"]


@pytest.fixture(scope="module")
def recut_records(shared_data: Path):  # type: ignore[no-untyped-def]
    from encoder.pipeline import Encoder
    from sv6d.synth.recut import recut

    encoder = Encoder()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, opening) in enumerate(product(FOOTAGE, OPENINGS)):
            path = Path(tmp) / f"{Path(src).stem}-{opening}.mp4"
            recut(shared_data / "videos" / src, path, opening, np.random.default_rng(i))
            out[(src, opening)] = encoder.encode_file(path, video_id=f"{Path(src).stem}-{opening}")
    return out


def test_same_opening_beats_same_footage(recut_records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from indexer import open_index

    keys = {r.video_id: key for key, r in recut_records.items()}
    wins = 0
    total = 0
    with open_index(f"faiss://{tmp_path}") as index:
        index.upsert(list(recut_records.values()))
        for (src, opening), record in recut_records.items():
            hits = index.similar_hooks(record.video_id, k=len(recut_records) - 1)
            rank = {keys[h.video_id]: i for i, h in enumerate(hits)}
            same_opening = [rank[(s, opening)] for s in FOOTAGE if s != src]
            same_footage = [rank[(src, o)] for o in OPENINGS if o != opening]
            # The best same-opening hit must come before every same-footage hit.
            total += 1
            wins += min(same_opening) < min(same_footage)
            assert hits[0].video_id != record.video_id
    assert wins / total >= 0.9, f"same opening ranked first for {wins}/{total} queries"
