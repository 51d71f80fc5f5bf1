"""Seeing a record: the timeline image, ``sv6d show``, and the timelines notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sv6d.record import make_tag
from sv6d.timeline import save_timeline, timeline_figure
from tests.test_record import _record

ROOT = Path(__file__).resolve().parents[1]


def test_timeline_has_a_lane_per_tag_label(tmp_path: Path, rng: np.random.Generator) -> None:
    record = _record(rng)
    overlay = make_tag("text_overlay", 0, 2.5, 0.8, {"text_area_ratio": 0.1, "text_frame_ratio": 1.0})
    assert overlay is not None
    record.tags.append(overlay)
    fig = timeline_figure(record)
    lanes = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert lanes == ["editing: hard_cut", "dissemination: text_overlay"]
    out = save_timeline(record, tmp_path / "t.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_show_encodes_a_file_and_draws_it(tmp_path: Path) -> None:
    from sv6d.synth import generate_video, sample_spec

    video = tmp_path / "v.mp4"
    generate_video(sample_spec("fast_cuts_text", np.random.default_rng(0), max_duration_s=6.0), video)
    out = tmp_path / "timeline.png"
    cmd = [sys.executable, "-m", "cli.main", "show", str(video), "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tmp_path)
    result = json.loads(proc.stdout)
    assert result["out"] == str(out)
    assert out.stat().st_size > 10_000
    labels = {t["label"] for t in result["tags"]}
    assert {"hard_cut", "text_overlay"} <= labels


def test_show_unknown_id_is_a_clear_error(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cli.main", "show", "no-such-video", "--data-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no stored video with id 'no-such-video'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_timelines_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The notebook renders its example videos into a fresh temp folder, which it keeps for the reader;
    # under test that folder goes to pytest's own temp dir, not /tmp.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks" / "timelines.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook should draw timelines"
    assert list(tmp_path.glob("sv6d-notebook-*/*.mp4")), (
        "the notebook should render into the temp dir it was given"
    )
