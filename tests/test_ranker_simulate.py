"""The simulated platform: latent preferences drive likes, and the simulated experiment runs end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ranker.simulate import simulate_events
from sv6d.record import EncoderInfo, SV6DRecord
from sv6d.record_io import write_records


def _records(n: int = 60, d: int = 8, seed: int = 0) -> list[SV6DRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.normal(size=(6, d)) + 2.0 * (i % 3 == 0)
        h = v + 0.3 * rng.normal(size=(6, d))
        out.append(
            SV6DRecord(
                video_id=f"s{i}",
                source="test",
                duration_s=float(rng.uniform(5, 30)),
                fps=25.0,
                width=360,
                height=640,
                creator=f"c{i % 5}",
                created_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=float(rng.uniform(-7, 12))),
                encoder=EncoderInfo(name="test", version="0", head_version="0"),
                hook_window=(0.0, 3.0),
                video=v / np.linalg.norm(v, axis=1, keepdims=True),
                hook=h / np.linalg.norm(h, axis=1, keepdims=True),
            )
        )
    return out


def test_likes_follow_the_latent_structure_preference() -> None:
    recs = _records()
    params = {
        "n_users": 80,
        "impressions": 30,
        "structure_weight": 8.0,
        "popularity_weight": 0.0,
        "noise": 0.1,
    }
    ev = simulate_events(recs, params, seed=3)
    assert ev.height > 1000
    assert ev["like"].mean() < 0.7
    # With structure dominating, a user's likes are structurally closer to each other than to their non-likes.
    vec = {r.video_id: r.video.ravel() / np.sqrt(6) for r in recs}
    gaps = []
    for (_u,), g in ev.group_by("user_id"):
        liked = [vec[v] for v in g.filter(g["like"])["video_id"]]
        other = [vec[v] for v in g.filter(~g["like"])["video_id"]]
        if len(liked) > 2 and other:
            center = np.mean(liked, axis=0)
            gaps.append(np.mean([center @ x for x in liked]) - np.mean([center @ x for x in other]))
    assert np.mean(gaps) > 0.05


@pytest.mark.slow
def test_simulated_experiment_reports_structure_effect(tmp_path) -> None:
    from ranker.experiment import run_experiment

    recs_path = tmp_path / "records.parquet"
    write_records(recs_path, _records(60))
    cfg = tmp_path / "sim.toml"
    cfg.write_text(
        f"""
name = "sim-small"
systems = ["popularity", "recency", "structural", "lgbm_engagement", "lgbm_structure"]
[data]
source = "simulated"
[simulated]
records = "{recs_path}"
n_users = 100
impressions = 25
[split]
train_cutoffs = [0.5]
test_start = 0.75
[evaluation]
n_boot = 100
n_perm = 500
"""
    )
    res = run_experiment(cfg, tmp_path / "run")
    assert set(res["systems"]) == {"popularity", "recency", "structural", "lgbm_engagement", "lgbm_structure"}
    assert res["data_kind"] == "simulated"
    eff = res["structure_effect"]
    lo, hi = eff["ndcg_at_10_delta_ci"]
    assert lo <= eff["ndcg_at_10_delta"] <= hi
    assert 0 < eff["p_value"] <= 1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "SIMULATED" in report
    assert "lgbm_structure − lgbm_engagement" in report
    assert "paired randomization test p =" in report


@pytest.mark.slow
def test_simulated_experiment_reports_the_cold_slice(tmp_path) -> None:
    from ranker.experiment import run_experiment

    recs_path = tmp_path / "records.parquet"
    write_records(recs_path, _records(60))
    cfg = tmp_path / "sim.toml"
    cfg.write_text(
        f"""
name = "sim-cold"
systems = ["popularity", "lgbm_structure", "lgbm_cold"]
[data]
source = "simulated"
[simulated]
records = "{recs_path}"
n_users = 100
impressions = 25
[split]
train_cutoffs = [0.5]
test_start = 0.75
[candidates.quotas]
cold = 10
[evaluation]
n_boot = 50
n_perm = 100
"""
    )
    res = run_experiment(cfg, tmp_path / "run")
    ceiling = res["windows"][0]["ceiling"]
    assert ceiling["n_cold_positives"] > 0  # videos uploaded inside the test window were liked
    assert 0 < ceiling["cold_share_in_candidates"] <= 1
    assert res["windows"][0]["candidate_recall"]["cold"] > 0
    for s in ("popularity", "lgbm_structure", "lgbm_cold"):
        assert 0 <= res["systems"][s]["ndcg_at_10_cold"] <= 1
    assert "## Cold videos" in (tmp_path / "run" / "report.md").read_text()
