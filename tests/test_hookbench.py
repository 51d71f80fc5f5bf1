"""The real-footage hook benchmark: its split, its renderer (ffmpeg filter graphs, independent of the
encoder), its baselines and its scoring. The whole benchmark is a command (``sv6d eval-hooks --real``);
here a slice."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sv6d.errors import ConfigError
from sv6d.hookbench import STYLES, load_split
from sv6d.hookbench.split import DEFAULT_SPLIT

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not installed (Debian package ffmpeg; make install adds it as root)",
)


def test_split_is_source_disjoint_and_names_every_shared_video(shared_data: Path) -> None:
    split = load_split()
    assert not set(split.train) & set(split.heldout)
    videos = {
        p.name for p in (shared_data / "videos").iterdir() if p.suffix in {".mp4", ".webm", ".mkv", ".avi"}
    }
    assert set(split.train) | set(split.heldout) == videos
    assert split.footage("kinetics_test.avi") == split.footage("kinetics_test.mp4")
    assert split.side("kinetics_test.avi") == split.side("kinetics_test.mp4")


def test_split_refuses_overlap(tmp_path: Path) -> None:
    p = tmp_path / "split.toml"
    p.write_text('version = 1\ntrain = ["a.mp4", "b.mp4"]\nheldout = ["b.mp4"]\n')
    with pytest.raises(ConfigError, match=r"both sides.*b\.mp4"):
        load_split(p)
    p.write_text('version = 1\ntrain = ["a.mp4"]\nheldout = ["b.mp4"]\nsame_footage = [["a.mp4", "b.mp4"]]\n')
    with pytest.raises(ConfigError, match="spans both sides"):
        load_split(p)
    assert DEFAULT_SPLIT.is_file()


def test_at_least_ten_styles_with_the_required_ones() -> None:
    required = {
        "jump_cuts",
        "montage",
        "caption_hook",
        "slow_push_in",
        "pull_out",
        "whip_pan",
        "fade_from_black",
        "flash_open",
        "freeze_frame_open",
        "speed_ramp",
        "split_screen",
        "punch_in_beat",
    }
    assert required <= set(STYLES)


def test_renderer_shares_nothing_with_the_encoder() -> None:
    import ast

    root = Path(__file__).resolve().parents[1] / "sv6d" / "hookbench"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("encoder", "sv6d.synth", "indexer")), (path, node.module)


def test_metrics_count_style_and_footage() -> None:
    from cli.hookbench_eval import Clip, _metrics
    from sv6d.hookbench import RenderedClip

    clips = [
        Clip(RenderedClip(f"{src}-{sty}", "", src, sty, {}), "heldout", src)
        for src in ("a", "b", "c")
        for sty in ("jump_cuts", "montage")
    ]
    # every query's top hits: its own footage first, then the same style
    rankings = {}
    for c in clips:
        same_src = [d.clip.clip_id for d in clips if d.footage == c.footage and d is not c]
        same_sty = [d.clip.clip_id for d in clips if d.clip.style == c.clip.style and d is not c]
        rest = [d.clip.clip_id for d in clips if d.clip.clip_id not in {*same_src, *same_sty, c.clip.clip_id}]
        rankings[c.clip.clip_id] = same_src + same_sty + rest
    m = _metrics(clips, rankings, k=2)
    assert m["same_footage_at_2"] == 0.5
    assert m["p_at_2"] == 0.5
    assert m["by_style"] == {"jump_cuts": 0.5, "montage": 0.5}


@pytest.mark.slow
@needs_ffmpeg
def test_rendered_styles_have_the_promised_structure(shared_data: Path, tmp_path: Path) -> None:
    """Four styles over one real source: length, size and the structure each style promises, measured here
    with the baseline's own numbers (cut count, frozen share, start luma, flash, zoom)."""
    from sv6d.hookbench import baselines
    from sv6d.hookbench.render import HOOK_S, REST_S, render_benchmark

    styles = ["jump_cuts", "freeze_frame_open", "fade_from_black", "slow_push_in", "flash_open"]
    clips = render_benchmark(shared_data / "videos", tmp_path, ["chaplin.mp4"], styles, seed=3)
    manifest = json.loads((tmp_path / "clips.json").read_text())
    assert {c["style"] for c in manifest["clips"]} == set(styles)
    feats = {}
    for c in clips:
        import av

        with av.open(c.path) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.width == 480
            duration = float(container.duration or 0) / 1e6
            assert abs(duration - (HOOK_S + REST_S)) < 0.2, (c.style, duration)
            assert container.streams.audio, c.style
        feats[c.style] = dict(
            zip(baselines.STRUCTURAL_NAMES, baselines.structural(baselines.hook_frames(c.path)), strict=True)
        )
    assert feats["jump_cuts"]["cuts"] >= 2, feats["jump_cuts"]
    assert feats["freeze_frame_open"]["frozen_share"] > 0.2, feats["freeze_frame_open"]
    assert feats["fade_from_black"]["start_luma"] < 0.05, feats["fade_from_black"]
    assert feats["flash_open"]["start_luma"] > 0.7, feats["flash_open"]
    assert feats["slow_push_in"]["zoom"] > 0, feats["slow_push_in"]
    # a second run renders nothing new (the clips are kept)
    before = {c.path: Path(c.path).stat().st_mtime_ns for c in clips}
    again = render_benchmark(shared_data / "videos", tmp_path, ["chaplin.mp4"], styles, seed=3)
    assert {c.path: Path(c.path).stat().st_mtime_ns for c in again} == before
    assert [c.params for c in again] == [c.params for c in clips]


@needs_ffmpeg
def test_render_refuses_unknown_style_and_missing_source(tmp_path: Path) -> None:
    from sv6d.errors import VideoInputError
    from sv6d.hookbench.render import render_benchmark

    with pytest.raises(ConfigError, match="valid styles"):
        render_benchmark(tmp_path, tmp_path / "out", ["x.mp4"], ["dolly_zoom"])
    with pytest.raises(VideoInputError, match="does not exist"):
        render_benchmark(tmp_path, tmp_path / "out", ["x.mp4"], ["montage"])
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoInputError, match="no video stream"):
        render_benchmark(tmp_path, tmp_path / "out", ["bad.mp4"], ["montage"])


def test_colour_histogram_is_unit_and_content_sensitive() -> None:
    from sv6d.hookbench.baselines import HookFrames, colour_histogram

    red = HookFrames([np.full((20, 30, 3), (200, 20, 20), np.uint8)] * 3)
    blue = HookFrames([np.full((20, 30, 3), (20, 20, 200), np.uint8)] * 3)
    a, b = colour_histogram(red), colour_histogram(blue)
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-5
    assert float(a @ a) > 0.99 > float(a @ b)


@pytest.mark.slow
@needs_ffmpeg
def test_eval_hooks_real_cli_on_a_small_split(shared_data: Path, tmp_path: Path) -> None:
    """The command end to end on a two-plus-two source split and three styles: renders, encodes with the
    default encoder, searches through the real index, scores the encoder and both baselines per side."""
    from typer.testing import CliRunner

    from cli.main import app

    split = tmp_path / "split.toml"
    split.write_text(
        'version = 1\ntrain = ["chaplin.mp4", "fire2.mp4", "carphone_qcif.mp4"]\nvalidation = ["fire2.mp4"]\n'
        'heldout = ["kinetics_demo.mp4", "counter.mp4", "flipping_a_pancake.mkv"]\n'
    )
    styles = "fade_from_black,freeze_frame_open,montage"
    args = ["eval-hooks", "--real", "--json", "--split", str(split), "--styles", styles]
    args += ["--videos", str(shared_data / "videos"), "--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["benchmark"]["styles"] == styles.split(",")
    for side in ("heldout", "train"):
        systems = doc[side]["systems"]
        assert doc[side]["clips"] == 9
        assert systems["chance"] == {"p_at_5": 0.25, "same_footage_at_5": 0.25}
        for name in ("encoder", "baseline_structural", "baseline_colour_histogram", "dimension_editing"):
            m = systems[name]
            assert 0.0 <= m["p_at_5"] <= 1.0
            assert 0.0 <= m["same_footage_at_5"] <= 0.4  # 2 clips of the same footage among 8
            assert set(m["by_style"]) == set(styles.split(","))
        # the content baseline finds the same footage: that is what it is there to show
        assert systems["baseline_colour_histogram"]["same_footage_at_5"] >= 0.3
    again = CliRunner().invoke(app, args)  # everything kept: nothing is rendered or encoded again
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1]) == doc
    rhythm = CliRunner().invoke(app, [*args, "--rhythm", "tune"])  # edit-rhythm re-ranking, tuned on train
    assert rhythm.exit_code == 0, rhythm.output
    tuned = json.loads(rhythm.stdout.strip().splitlines()[-1])
    assert tuned["benchmark"]["rhythm"]["tuned_on_train"] is True
    for side in ("heldout", "train"):
        assert tuned[side]["systems"]["encoder"] == doc[side]["systems"]["encoder"]  # reported beside it
        assert 0.0 <= tuned[side]["systems"]["encoder_rhythm"]["p_at_5"] <= 1.0
    bad = CliRunner().invoke(app, [*args, "--rhythm", "0.1"])
    assert bad.exit_code != 0
    assert "ALPHA,TIMING" in str(bad.exception)


@needs_ffmpeg
@pytest.mark.slow
@pytest.mark.shared_data
def test_other_heads_re_project_the_kept_features_instead_of_encoding_again(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark keeps records per backbone: a run with other heads (here the default ones after the
    fixed layout) re-projects them from the kept features, decoding nothing, and gets the vectors that
    encoding again would give."""
    from cli.hookbench_eval import run_benchmark
    from encoder.heads import FixedLayoutHeads
    from encoder.pipeline import Encoder
    from sv6d.hookbench import Split
    from sv6d.record_io import read_records

    split = Split(1, train=("chaplin.mp4", "fire2.mp4"), heldout=("counter.mp4", "carphone_qcif.mp4"))
    styles = ["fade_from_black", "caption_hook"]
    videos, work = shared_data / "videos", tmp_path / "bench"
    first = run_benchmark(videos, work, split, Encoder(heads=FixedLayoutHeads()), styles=styles)
    encoder = Encoder()
    assert encoder.info.head_version != first["benchmark"]["encoder"]["heads"]
    calls: list[str] = []
    original = Encoder.encode_file

    def counted(self: Encoder, path: str, **kwargs: object) -> object:
        calls.append(str(path))
        return original(self, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Encoder, "encode_file", counted)
    second = run_benchmark(videos, work, split, encoder, styles=styles)
    assert calls == []  # nothing decoded: every record was re-projected
    assert second["benchmark"]["encoder"]["heads"] == encoder.info.head_version
    (records_file,) = work.glob("*-seed0/records-*.parquet")
    kept = {r.video_id: r for r in read_records(records_file)}
    listed = json.loads((records_file.parent / "clips.json").read_text())["clips"]
    clip = next(c for c in listed if c["source"] == "fire2.mp4" and c["style"] == "caption_hook")
    monkeypatch.undo()
    fresh = Encoder().encode_file(clip["path"], video_id=clip["clip_id"])
    again = kept[clip["clip_id"]]
    assert again.encoder == fresh.encoder
    np.testing.assert_allclose(again.hook, fresh.hook, atol=1e-5)
    np.testing.assert_allclose(again.video, fresh.video, atol=1e-5)
    assert again.hook_style  # the style profile too
    assert set(again.hook_style) == set(fresh.hook_style)
    for label, p in fresh.hook_style.items():
        assert again.hook_style[label] == pytest.approx(p, abs=2e-4)


def test_probe_styles_are_apart_from_the_styles_heads_train_on() -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from sv6d.hookbench.render import PROBE_STYLE_DESCRIPTIONS, PROBE_STYLES

    assert len(PROBE_STYLES) == 5
    assert not set(PROBE_STYLES) & set(STYLES)
    assert all(PROBE_STYLE_DESCRIPTIONS[s] for s in PROBE_STYLES)
    res = CliRunner().invoke(app, ["eval-hooks", "--real", "--styles", "probe", "--tune-weights", "--json"])
    assert res.exit_code != 0
    assert "probe styles" in str(res.exception)


@pytest.mark.slow
@needs_ffmpeg
def test_probe_styles_render_what_they_describe(shared_data: Path, tmp_path: Path) -> None:
    """The five openings nothing is trained on, over one colour source: grey turning to colour, bars that
    open, brightness that flickers, a shake that stops, a picture that turns upright and then holds still
    (measured on the decoded frames)."""
    import av

    from sv6d.hookbench.render import PROBE_STYLES, render_benchmark

    source = ["flipping_a_pancake.mkv"]
    clips = render_benchmark(shared_data / "videos", tmp_path, source, PROBE_STYLES, seed=2)
    frames: dict[str, list[tuple[float, np.ndarray]]] = {}
    for c in clips:
        with av.open(c.path) as container:
            frames[c.style] = [
                (float(f.pts * f.time_base), f.to_ndarray(format="rgb24").astype(np.float32))
                for f in container.decode(video=0)
            ]

    def at(style: str, t: float) -> np.ndarray:
        return min(frames[style], key=lambda p: abs(p[0] - t))[1]

    def colourfulness(img: np.ndarray) -> float:
        return float(np.abs(img - img.mean(axis=2, keepdims=True)).mean())

    def change(style: str, lo: float, hi: float) -> float:
        """Mean absolute difference of consecutive frames between ``lo`` and ``hi`` seconds."""
        steps = itertools.pairwise(frames[style])
        return float(np.mean([np.abs(b - a).mean() for (_, a), (t, b) in steps if lo < t < hi]))

    params = {c.style: c.params for c in clips}
    bloom = params["colour_bloom"]
    assert colourfulness(at("colour_bloom", 0.05)) < 0.25 * colourfulness(
        at("colour_bloom", bloom["grey_s"] + bloom["rise_s"] + 0.2)
    )
    box = params["letterbox_open"]
    assert at("letterbox_open", 0.05).mean() < 20  # closed: black
    opened = at("letterbox_open", box["closed_s"] + box["slide_s"] + 0.2)
    assert opened[:10].mean() > 20  # the bars are gone
    assert opened[-10:].mean() > 20
    strobe = params["strobe_open"]
    luma = [(t, f.mean()) for t, f in frames["strobe_open"]]
    during = np.std([v for t, v in luma if t < strobe["strobe_s"]])
    after = np.std([v for t, v in luma if strobe["strobe_s"] + 0.1 < t < 3.0])
    assert during > 3 * after + 1, (during, after)
    shaking = params["shake_open"]["shake_s"]
    assert change("shake_open", 0.0, shaking - 0.1) > change("shake_open", shaking + 0.1, 3.0)
    turning = params["spin_in"]["turn_s"]
    assert change("spin_in", 0.0, turning - 0.1) > change("spin_in", turning + 0.1, 3.0)
