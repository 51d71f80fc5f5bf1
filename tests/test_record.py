from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import SchemaVersionError
from sv6d.record import EncoderInfo, Segment, SV6DRecord, make_tag, normalize_rows
from sv6d.record_io import METADATA_KEY, read_records, records_to_frame, write_records


def _block(rng: np.random.Generator, d: int = 8) -> np.ndarray:
    return normalize_rows(rng.normal(size=(6, d)))


def _record(rng: np.random.Generator, video_id: str = "v1", d: int = 8) -> SV6DRecord:
    tag = make_tag("hard_cut", 1.2, 1.2, 0.9, {"cut_at_s": 1.2, "content_delta": 0.61})
    assert tag is not None
    return SV6DRecord(
        video_id=video_id,
        source="clip.mp4",
        duration_s=5.0,
        fps=30.0,
        width=1080,
        height=1920,
        title="a title",
        hashtags=["#a", "#b"],
        creator="c1",
        created_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        encoder=EncoderInfo(name="evidence", version="1", head_version="fixed-1"),
        hook_window=(0.0, 3.0),
        video=_block(rng, d),
        hook=_block(rng, d),
        segments=[
            Segment(start_s=0, end_s=1.2, vectors=_block(rng, d)),
            Segment(start_s=1.2, end_s=5, vectors=_block(rng, d)),
        ],
        tags=[tag],
        energy=[0.1, 0.5, 0.2],
        energy_hz=2.0,
    )


def test_dimension_enum_is_the_six_in_order() -> None:
    assert [d.value for d in DIMENSIONS] == [
        "subject",
        "aesthetics",
        "camera",
        "editing",
        "narrative",
        "dissemination",
    ]
    assert Dimension.parse("Editing") is Dimension.EDITING
    with pytest.raises(ValueError, match="valid dimensions: subject"):
        Dimension.parse("colour")


def test_round_trip_through_parquet(tmp_path: Path, rng: np.random.Generator) -> None:
    records = [_record(rng, "a"), _record(rng, "b")]
    path = tmp_path / "shard.parquet"
    write_records(path, records)
    back = read_records(path)
    assert [r.video_id for r in back] == ["a", "b"]
    for r, b in zip(records, back, strict=True):
        np.testing.assert_array_equal(r.video, b.video)
        np.testing.assert_array_equal(r.hook, b.hook)
        assert [s.start_s for s in b.segments] == [0.0, 1.2]
        np.testing.assert_array_equal(r.segments[1].vectors, b.segments[1].vectors)
        assert b.tags == r.tags
        assert b.created_at == r.created_at
        assert b.orientation == "portrait"
    assert pl.read_parquet_metadata(path)[METADATA_KEY] == "1"


def test_event_tag_becomes_a_window_and_missing_evidence_is_not_emitted() -> None:
    tag = make_tag("hard_cut", 2.0, 2.0, 1.0, {"cut_at_s": 2.0, "content_delta": 0.5})
    assert tag is not None
    assert (tag.start_s, tag.end_s) == (1.9, 2.1)
    assert tag.dimension is Dimension.EDITING
    assert make_tag("hard_cut", 2.0, 2.0, 1.0, {"cut_at_s": 2.0}) is None
    assert (
        make_tag("text_overlay", 0, 3, 0.8, {"text_area_ratio": float("nan"), "text_frame_ratio": 1.0})
        is None
    )


def test_record_rejects_bad_vectors(rng: np.random.Generator) -> None:
    good = _record(rng)
    data = good.model_dump()
    data["video"] = np.ones((6, 8))
    with pytest.raises(ValueError, match="not L2-normalised"):
        SV6DRecord(**data)
    data["video"] = np.full((6, 8), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        SV6DRecord(**data)
    data["video"] = _block(rng, 4)
    with pytest.raises(ValueError, match="hook vectors have size 8"):
        SV6DRecord(**data)
    data["video"] = np.ones((5, 8))
    with pytest.raises(ValueError, match=r"shape \(6, d\)"):
        SV6DRecord(**data)


def test_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tag label 'explosion'"):
        make_tag("explosion", 0, 1, 1.0, {})


def test_newer_schema_version_is_a_clear_error(tmp_path: Path, rng: np.random.Generator) -> None:
    df = records_to_frame([_record(rng)]).with_columns(pl.lit(99, dtype=pl.Int32).alias("schema_version"))
    path = tmp_path / "future.parquet"
    df.write_parquet(path)
    with pytest.raises(SchemaVersionError, match="schema version 99, newer"):
        read_records(path)


def test_older_schema_version_without_migration_is_a_clear_error(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    df = records_to_frame([_record(rng)]).with_columns(pl.lit(0, dtype=pl.Int32).alias("schema_version"))
    path = tmp_path / "old.parquet"
    df.write_parquet(path)
    with pytest.raises(SchemaVersionError, match="no migration to 1 exists"):
        read_records(path)


def test_not_a_record_table(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(path)
    with pytest.raises(SchemaVersionError, match="no schema_version column"):
        read_records(path)
