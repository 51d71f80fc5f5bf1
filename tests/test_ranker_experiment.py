"""The KuaiRand experiment end to end on a subsample; its saved runs (LightGBM, heuristics and baselines in
both scopes) are re-scored with ranx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from ranx import Qrels, Run, evaluate

from sv6d.errors import ConfigError

SMALL = """
name = "kuairand-small"
systems = ["popularity", "recency", "lgbm_engagement", "itemknn"]
[data]
source = "kuairand"
path = "{path}"
[split]
train_cutoffs = [0.55]
test_start = 0.75
[candidates.quotas]
popular = 60
fresh = 30
covisit = 60
[evaluation]
max_test_users = 40
max_train_users = 60
n_boot = 100
n_perm = 300
"""


@pytest.mark.slow
@pytest.mark.shared_data
def test_kuairand_experiment_cli_and_ranx(shared_data, tmp_path) -> None:
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL.format(path=shared_data / "engagement" / "kuairand_27k_likehate_kcore15.tsv"))
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "experiment", "run", str(cfg), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["run_dir"] == str(out)
    assert set(doc["systems"]) == {"popularity", "recency", "lgbm_engagement", "itemknn", "itemknn_catalogue"}
    for res in doc["systems"].values():
        lo, hi = res["ndcg_at_10_ci"]
        assert lo <= res["ndcg_at_10"] <= hi
    for name in (
        "report.md",
        "results.json",
        "metrics.png",
        "candidate_recall.png",
        "config.toml",
        "data_version.json",
    ):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "engagement and user features" in report
    assert "## Ceiling" in report
    runs = pl.read_parquet(out / "runs.parquet")
    qrels = pl.read_parquet(out / "qrels.parquet")
    q = Qrels({u: {v: 1 for v in g["video_id"]} for (u,), g in qrels.group_by("user_id")})
    for system, res in doc["systems"].items():
        sub = runs.filter(pl.col("system") == system)
        r = Run({u: dict(zip(g["video_id"], g["score"], strict=True)) for (u,), g in sub.group_by("user_id")})
        # Users with no candidates are absent from the run; ranx scores them 0 like we do.
        ref = evaluate(q, r, ["ndcg@10", "recall@50", "map"], make_comparable=True)
        assert res["ndcg_at_10"] == pytest.approx(ref["ndcg@10"], abs=1e-9)
        assert res["recall_at_50"] == pytest.approx(ref["recall@50"], abs=1e-9)
        assert res["map"] == pytest.approx(ref["map"], abs=1e-9)


def test_missing_data_file_is_named(tmp_path) -> None:
    from ranker.experiment import run_experiment

    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL.format(path=tmp_path / "absent.tsv"))
    with pytest.raises(Exception, match=r"absent\.tsv does not exist"):
        run_experiment(cfg, tmp_path / "out")


def test_structure_systems_need_content(shared_data, tmp_path) -> None:
    from ranker.experiment import run_experiment

    cfg = tmp_path / "c.toml"
    text = SMALL.format(path=shared_data / "engagement" / "kuairand_27k_likehate_kcore15.tsv")
    cfg.write_text(text.replace('"itemknn"]', '"itemknn", "structural"]'))
    with pytest.raises(ConfigError, match="structural need video content"):
        run_experiment(cfg, tmp_path / "out")
    assert Path(cfg).exists()
