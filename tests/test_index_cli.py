"""``sv6d index`` and ``sv6d hooks`` through the real CLI app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from indexer.synthetic import make_records
from sv6d.record_io import write_records


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    records = make_records(40, 8, seed=1)
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    write_records(paths[0], records[:25])
    write_records(paths[1], records[25:])
    return paths


def test_index_then_hooks_json(tmp_path: Path, shards: list[Path]) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    res = runner.invoke(app, ["index", *map(str, shards), "--data-dir", str(data), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"shards": [str(s) for s in shards], "indexed": 40, "count": 40}
    res = runner.invoke(
        app,
        ["hooks", "v3", "--k", "5", "--weights", "subject=1,editing=2", "--data-dir", str(data), "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["query"]["video_id"] == "v3"
    assert out["query"]["weights"]["editing"] == 2.0
    assert out["query"]["weights"]["camera"] == 1.0  # left out: 1
    assert len(out["hits"]) == 5
    assert "v3" not in {h["video_id"] for h in out["hits"]}
    assert out["query"]["hook_style"] == {}  # these records carry no opening-style profile
    for h in out["hits"]:
        assert set(h) == {"video_id", "score", "match", "scores", "style", "window", "shared_tags"}
        assert h["style"] is None
        assert set(h["scores"]) == {
            "subject",
            "aesthetics",
            "camera",
            "editing",
            "narrative",
            "dissemination",
        }
        expected = sum(h["scores"].values()) + h["scores"]["editing"]
        assert h["score"] == pytest.approx(expected, abs=1e-5)
        assert h["match"] == pytest.approx(expected / 7, abs=1e-4)  # weights 1 + 2 + four of 1
        assert len(h["window"]) == 2
        assert all(set(t) == {"dimension", "label"} for t in h["shared_tags"])
    table = runner.invoke(app, ["hooks", "v3", "--k", "3", "--data-dir", str(data)])
    assert table.exit_code == 0
    assert "similar hooks of v3" in table.stdout
    assert "no style profile" in table.stdout


def test_hooks_show_and_blend_the_opening_style(tmp_path: Path) -> None:
    """Records with opening-style profiles: the query's likeliest styles in the title, each hit's style
    similarity in the JSON, the blend's share from --style (0: the vectors' order)."""
    profiles = [{"montage": 1.0}, {"caption_hook": 0.9, "montage": 0.1}]
    records = make_records(40, 8, seed=1)
    styled = [r.model_copy(update={"hook_style": profiles[i % 2]}) for i, r in enumerate(records)]
    shard = tmp_path / "styled.parquet"
    write_records(shard, styled)
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["index", str(shard), "--data-dir", str(data)]).exit_code == 0
    base = ["hooks", "v3", "--k", "10", "--data-dir", str(data)]
    blended = json.loads(runner.invoke(app, [*base, "--json"]).stdout)
    plain = json.loads(runner.invoke(app, [*base, "--style", "0", "--json"]).stdout)
    assert blended["query"]["hook_style"] == {"caption_hook": 0.9, "montage": 0.1}
    assert all(h["style"] is not None for h in blended["hits"])
    assert all(h["style"] is None for h in plain["hits"])
    assert [h["score"] for h in plain["hits"]] == sorted((h["score"] for h in plain["hits"]), reverse=True)
    # the hooks that open like v3 (its odd-numbered fellows) come first once the style is blended in
    assert sum(int(h["video_id"][1:]) % 2 for h in blended["hits"][:5]) > sum(
        int(h["video_id"][1:]) % 2 for h in plain["hits"][:5]
    )
    table = runner.invoke(app, base)
    assert "opens like caption_hook 0.90, montage 0.10" in " ".join(table.stdout.split())
    bad = runner.invoke(app, [*base, "--style", "2"])
    assert bad.exit_code != 0


def test_cli_errors(tmp_path: Path, shards: list[Path]) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    runner.invoke(app, ["index", str(shards[0]), "--data-dir", str(data)])
    cases = [
        (["hooks", "v3", "--weights", "colour=2", "--data-dir", str(data)], "unknown dimension 'colour'"),
        (["hooks", "v3", "--weights", "editing", "--data-dir", str(data)], "not NAME=NUMBER"),
        (["hooks", "v3", "--k", "0", "--data-dir", str(data)], r"k must be an integer in \[1, 1000\]"),
        (["hooks", "nope", "--data-dir", str(data)], "'nope' is not in the index"),
        (["index", str(tmp_path / "missing.parquet"), "--data-dir", str(data)], "no such record shard"),
        (["index", str(shards[1]), "--data-dir", str(tmp_path / "new"), "--recipe", "Flot"], "recipe 'Flot'"),
        (["index", str(shards[1]), "--data-dir", str(data), "--recipe", "HNSW32"], "'Flat', not 'HNSW32'"),
    ]
    for args, match in cases:
        res = runner.invoke(app, args)
        assert res.exit_code != 0
        assert res.exception is not None
        assert re.search(match, str(res.exception)), (args, res.exception)
