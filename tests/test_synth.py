"""The generated corpus: deterministic specs, renders that decode as specified, truth matching the pixels."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from sv6d.synth import (
    ARCHETYPES,
    OPENINGS,
    TRUTH_LABELS,
    generate_corpus,
    generate_video,
    read_manifest,
    recut,
    sample_spec,
    truth_tags,
)
from sv6d.synth.audio import rms_db
from sv6d.synth.spec import VideoSpec, pixel_stats
from sv6d.synth.truth import LOUD_OPEN_DB, SILENT_OPEN_DB, aesthetic_labels
from sv6d.vocabulary import default_vocabulary

CUT_HIST_DELTA = 0.6  # colour-histogram L1 change between consecutive frames that marks a cut


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray | None, int]:
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return frames, None, 0
        sr = c.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio, sr


def _hist_deltas(frames: np.ndarray) -> np.ndarray:
    import cv2

    hists = []
    for f in frames:
        h = cv2.calcHist([f], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
        hists.append(h / h.sum())
    return np.abs(np.diff(np.stack(hists), axis=0)).sum(axis=1)  # [k - 1] is the change into frame k


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[VideoSpec, Path]]:
    out = tmp_path_factory.mktemp("synth")
    items = []
    for i, archetype in enumerate(ARCHETYPES):
        spec = sample_spec(archetype, np.random.default_rng([7, i]), video_id=f"t{i}", max_duration_s=7.0)
        items.append((spec, generate_video(spec, out / f"{archetype}.mp4")))
    return items


def test_sample_spec_is_deterministic_per_seed() -> None:
    for archetype in ARCHETYPES:
        a = sample_spec(archetype, np.random.default_rng(3), video_id="x")
        b = sample_spec(archetype, np.random.default_rng(3), video_id="x")
        c = sample_spec(archetype, np.random.default_rng(4), video_id="x")
        assert a.model_dump() == b.model_dump()
        assert a.model_dump() != c.model_dump()


def test_unknown_archetype_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown archetype 'nope'; valid archetypes: fast_cuts_text"):
        sample_spec("nope", np.random.default_rng(0))


def test_specs_cover_durations_orientations_and_hook_structure() -> None:
    specs = [sample_spec(a, np.random.default_rng([1, i])) for i in range(6) for a in ARCHETYPES]
    assert all(5.0 <= s.duration_s <= 20.5 for s in specs)
    assert {s.orientation for s in specs} == {"landscape", "portrait"}
    for s in specs:
        hook_cuts = [t.at_s for t in s.transitions if t.at_s <= 3.0]
        if s.archetype == "fast_cuts_text":
            assert len(hook_cuts) >= 4
            assert any(o.start_s < 0.5 for o in s.overlays)
        if s.archetype in ("slow_push_in_quiet", "static_talking_text", "loop_static", "fade_in_from_black"):
            assert not hook_cuts
        if s.archetype == "loop_static":
            assert s.ending == "loop"


@pytest.mark.slow
def test_every_archetype_renders_and_decodes_as_specified(rendered: list[tuple[VideoSpec, Path]]) -> None:
    assert [s.archetype for s, _ in rendered] == list(ARCHETYPES)
    for spec, path in rendered:
        frames, audio, sr = _decode(path)
        assert frames.shape[1:] == (spec.height, spec.width, 3)
        assert abs(len(frames) - spec.n_frames) <= 1
        assert (spec.height > spec.width) == (spec.orientation == "portrait")
        with av.open(str(path)) as c:
            assert c.duration is not None
            assert abs(c.duration / 1e6 - spec.duration_s) < 0.15
        assert audio is not None
        assert abs(audio.size / sr - spec.duration_s) < 0.15


@pytest.mark.slow
def test_truth_tags_are_vocabulary_labels_inside_the_video(rendered: list[tuple[VideoSpec, Path]]) -> None:
    vocab = default_vocabulary()
    for spec, _ in rendered:
        tags = truth_tags(spec)
        assert tags
        for t in tags:
            assert t.label in TRUTH_LABELS
            assert vocab.spec(t.label).dimension.value == t.dimension
            assert 0.0 <= t.start_s < t.end_s <= spec.duration_s + vocab.event_halfwidth_s + 1e-6
        labels = {t.label for t in tags}
        assert "no_person" in labels
        assert ("vertical_frame" in labels) == (spec.orientation == "portrait")


@pytest.mark.slow
def test_hard_cuts_are_where_the_pixels_change_abruptly(rendered: list[tuple[VideoSpec, Path]]) -> None:
    for spec, path in rendered:
        frames, _, _ = _decode(path)
        deltas = _hist_deltas(frames)
        cut_frames = [
            round((t.start_s + t.end_s) / 2 * spec.fps) for t in truth_tags(spec) if t.label == "hard_cut"
        ]
        for k in cut_frames:
            assert deltas[k - 1] > CUT_HIST_DELTA, (spec.archetype, k)
        # and nowhere else: outside transitions and fades, consecutive frames stay alike
        calm = np.ones(deltas.size, bool)
        for tr in spec.transitions:
            k, n = round(tr.at_s * spec.fps), round(tr.span_s * spec.fps)
            calm[max(0, k - 2 - n // 2) : k + n + 1] = False
        for fade in spec.fades:
            calm[max(0, round(fade.ramp_start_s * spec.fps) - 2) : round(fade.ramp_end_s * spec.fps) + 2] = (
                False
            )
        assert deltas[calm].max() < CUT_HIST_DELTA, spec.archetype


@pytest.mark.slow
def test_aesthetic_and_loudness_truth_match_the_decoded_video(rendered: list[tuple[VideoSpec, Path]]) -> None:
    for spec, path in rendered:
        frames, audio, sr = _decode(path)
        tags = truth_tags(spec)
        for shot in spec.shots:
            k0, k1 = round(shot.start_s * spec.fps), round(shot.end_s * spec.fps)
            measured = set(aesthetic_labels(*pixel_stats(frames[k0:k1])))
            truth = {
                t.label
                for t in tags
                if t.dimension == "aesthetics"
                and t.label != "vertical_frame"
                and abs(t.start_s - shot.start_s) < 1e-3
            }
            assert measured == truth, (spec.archetype, shot.start_s)
        assert audio is not None
        db = rms_db(audio, sr, 0.0, 1.0)
        labels = {t.label for t in tags}
        assert ("loud_open" in labels) == (db > LOUD_OPEN_DB), (spec.archetype, db)
        assert ("silent_open" in labels) == (db < SILENT_OPEN_DB), (spec.archetype, db)


@pytest.mark.slow
def test_loop_ending_returns_to_the_first_frame(rendered: list[tuple[VideoSpec, Path]]) -> None:
    spec, path = next((s, p) for s, p in rendered if s.archetype == "loop_static")
    frames, _, _ = _decode(path)
    first, last = frames[0].astype(np.float32), frames[-1].astype(np.float32)
    before_loop = frames[round(spec.shots[-1].start_s * spec.fps) - 1].astype(np.float32)
    assert np.abs(first - last).mean() < 4.0
    assert np.abs(first - before_loop).mean() > 4 * np.abs(first - last).mean()
    assert any(t.label == "loop_ending" for t in truth_tags(spec))


@pytest.mark.slow
def test_generate_corpus_writes_a_manifest_and_reuses_valid_files(tmp_path: Path) -> None:
    manifest = generate_corpus(tmp_path / "c", n=2, seed=5, workers=1)
    entries = read_manifest(manifest)
    assert [e.archetype for e in entries] == list(ARCHETYPES[:2])
    assert all(e.path.is_file() and e.truth for e in entries)
    assert entries[0].truth == truth_tags(entries[0].spec)
    mtimes = [e.path.stat().st_mtime_ns for e in entries]
    entries[1].path.write_bytes(b"")  # an invalid file is rendered again, a valid one is kept
    generate_corpus(tmp_path / "c", n=2, seed=5, workers=1)
    assert entries[0].path.stat().st_mtime_ns == mtimes[0]
    assert entries[1].path.stat().st_size > 0
    # A render from another spec (a changed generator) with the same size and frame count is not reused.
    entries[0].path.with_suffix(".spec.sha256").write_text("digest of an older generator\n")
    generate_corpus(tmp_path / "c", n=2, seed=5, workers=1)
    assert entries[0].path.stat().st_mtime_ns != mtimes[0]


def test_read_manifest_names_the_missing_file(tmp_path: Path) -> None:
    from sv6d.errors import VideoInputError

    with pytest.raises(VideoInputError, match=r"manifest\.parquet: no corpus manifest here"):
        read_manifest(tmp_path)


@pytest.mark.slow
def test_recut_makes_videos_with_each_opening(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "videos" / "chaplin.mp4"
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    deltas = {}
    for opening in OPENINGS:
        out = recut(src, tmp_path / f"{opening}.mp4", opening, np.random.default_rng(0), rest_s=2.0)
        frames, audio, sr = _decode(out)
        assert abs(len(frames) - 5 * 25) <= 1
        assert audio is not None
        gray = frames[:75].astype(np.float32).mean(axis=3)
        deltas[opening] = np.abs(np.diff(gray, axis=0)).mean(axis=(1, 2))  # mean abs change into frame k
        if opening == "slow_push_in":
            assert rms_db(audio, sr, 0.0, 1.0) < SILENT_OPEN_DB
    fast = deltas["fast_cuts"]
    assert int((fast > 3 * np.median(fast)).sum()) >= 4  # jumps between moments (chaplin is black and white)
    # a frozen card (only the encoder's keyframes move a pixel), and white before the flash cut
    assert np.quantile(deltas["text_card_open"], 0.95) < 0.1
    assert deltas["text_card_open"].max() < 2.0
    assert deltas["flash_open"][: int(0.3 * 25) - 1].max() < 0.5


def test_recut_refuses_unknown_openings_and_missing_files(tmp_path: Path) -> None:
    from sv6d.errors import VideoInputError

    with pytest.raises(ValueError, match="unknown opening 'zoom'; valid openings: fast_cuts"):
        recut(tmp_path / "a.mp4", tmp_path / "b.mp4", "zoom", np.random.default_rng(0))
    with pytest.raises(VideoInputError, match=r"a\.mp4: source video does not exist"):
        recut(tmp_path / "a.mp4", tmp_path / "b.mp4", "fast_cuts", np.random.default_rng(0))
