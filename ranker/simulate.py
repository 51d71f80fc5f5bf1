"""A simulated platform: the generated corpus encoded by the evidence backbone, plus simulated users.

Latent model (documented so that the report can say what "structure helps" means here):
- user u has, per dimension d, a taste anchor ``a_ud`` (the dimension-d vector of a randomly drawn video
  of the corpus, so tastes live in the encoder's space), dimension weights ``β_u ~ Dirichlet(1,…,1)`` and a
  popularity sensitivity ``γ_u ~ U(0, popularity_weight)``;
- video v has a latent popularity ``q_v ~ N(0, 1)`` and an upload time spread over the simulated days;
- utility ``U_uv = structure_weight · Σ_d β_ud cos(a_ud, x_vd) + γ_u q_v + ε``, ``ε ~ N(0, noise)``;
- each user sees ``impressions`` uploaded videos at random times, chosen with probability ∝ exp(q_v)
  (a popular feed); with ``z = U_uv − τ_u`` (τ_u: the user's 70th utility percentile over the corpus),
  like ~ Bernoulli(σ(3z)), hate ~ Bernoulli(0.3·σ(−3z)), watch ratio = σ(z + N(0, 0.3)),
  share ~ Bernoulli(0.1·like).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ranker.events import conform_events
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord
from sv6d.record_io import read_records, write_records

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


EncodeFile = Callable[..., SV6DRecord]


def encode_corpus(
    params: dict[str, Any], workdir: Path, seed: int, encode_file: EncodeFile | None = None
) -> tuple[list[SV6DRecord], list[Path]]:
    """Records of the generated corpus.

    Encoding is injected (``encode_file(path, video_id=, creator=, created_at=) -> SV6DRecord``, e.g. the
    CLI passes ``encoder.pipeline.Encoder().encode_file``): the ranker layer never imports the encoder.

    ``records``: read that file (a missing one is a ConfigError naming it). ``data_dir``: reuse
    ``data_dir/records.parquet`` when it exists, else render the corpus into ``data_dir/corpus`` and encode it
    there once (later runs with the same ``n_videos`` reuse both; upload times come from the seed of the run
    that encoded them). Neither: render and encode into the run folder ``workdir``.
    """
    if params.get("records"):
        path = Path(params["records"])
        if not path.is_file():
            raise ConfigError(f"simulated.records file {path} does not exist")
        return read_records(path), [path]
    base = Path(params["data_dir"]) if params.get("data_dir") else workdir
    cached = base / "records.parquet"
    n = int(params.get("n_videos", 48))
    if params.get("data_dir") and cached.is_file():
        records = read_records(cached)
        if len(records) == n:
            return records, [cached]
    if encode_file is None:
        raise ConfigError(
            "the simulated source must encode its corpus: run it through `sv6d experiment run`, or give "
            "simulated.records (a parquet file of records) or a data_dir that already holds records.parquet"
        )
    base.mkdir(parents=True, exist_ok=True)
    from sv6d.synth.corpus import generate_corpus, read_manifest

    corpus = Path(params.get("corpus_dir") or base / "corpus")
    manifest = generate_corpus(corpus, n=n, seed=int(params.get("corpus_seed", seed)))
    rng = np.random.default_rng(seed)
    days = float(params.get("days", 14))
    records = []
    for i, e in enumerate(read_manifest(corpus)):
        created = T0 + timedelta(days=float(rng.uniform(-days / 2, days * 0.9)))
        records.append(
            encode_file(e.path, video_id=e.video_id, creator=f"creator{i % 8}", created_at=created)
        )
    write_records(cached, records)
    return records, [manifest, cached]


def simulate_events(records: list[SV6DRecord], params: dict[str, Any], seed: int) -> pl.DataFrame:
    """Events of simulated users over ``records`` under the latent model in the module docstring."""
    rng = np.random.default_rng(seed)
    n_users = int(params.get("n_users", 300))
    impressions = int(params.get("impressions", 40))
    days = float(params.get("days", 14))
    sw = float(params.get("structure_weight", 4.0))
    pw = float(params.get("popularity_weight", 1.0))
    noise = float(params.get("noise", 0.5))
    x = np.stack([r.video for r in records])  # (N, 6, d)
    n = len(records)
    created = np.array([(r.created_at or T0).timestamp() for r in records])
    q = rng.normal(size=n)
    anchors = x[rng.integers(0, n, size=(n_users, 6)), np.arange(6)[None, :]]  # (U, 6, d)
    beta = rng.dirichlet(np.ones(6), size=n_users)
    gamma = rng.uniform(0, pw, n_users)
    cos = np.einsum("ukd,nkd->unk", anchors, x)  # (U, N, 6)
    base = sw * np.einsum("unk,uk->un", cos, beta) + gamma[:, None] * q[None, :]
    tau = np.quantile(base, 0.7, axis=1)
    rows = []
    start = T0.timestamp()
    k = 0
    for u in range(n_users):
        ts = np.sort(rng.uniform(start, start + days * 86400, impressions))
        for t in ts:
            avail = np.flatnonzero(created <= t)
            if not len(avail):
                continue
            p = np.exp(q[avail])
            v = int(rng.choice(avail, p=p / p.sum()))
            z = base[u, v] + rng.normal(0, noise) - tau[u]
            like = bool(rng.random() < _sigmoid(3 * z))
            dur = records[v].duration_s
            rows.append(
                {
                    "event_id": f"sim:{seed}:{k}",
                    "user_id": f"su{u}",
                    "video_id": records[v].video_id,
                    "ts": datetime.fromtimestamp(float(t), UTC),
                    "play_time_s": float(dur * _sigmoid(z + rng.normal(0, 0.3))),
                    "video_duration_s": float(dur),
                    "like": like,
                    "hate": bool(rng.random() < 0.3 * _sigmoid(-3 * z)),
                    "share": bool(like and rng.random() < 0.1),
                }
            )
            k += 1
    return conform_events(pl.DataFrame(rows), source="simulated events")


def simulated_dataset(
    params: dict[str, Any], workdir: Path, seed: int, encode_file: EncodeFile | None = None
) -> tuple[list[SV6DRecord], pl.DataFrame, list[str], list[Path]]:
    """(records, events, report notes, input files) for the ``simulated`` experiment source."""
    records, inputs = encode_corpus(params, workdir, seed, encode_file)
    events = simulate_events(records, params, seed)
    events.write_parquet(workdir / "simulated_events.parquet")
    notes = [
        f"SIMULATED: {len(records)} videos encoded by {records[0].encoder.name} "
        f"{records[0].encoder.version}; {events['user_id'].n_unique()} simulated users.",
        "Engagement follows the latent model of ranker/simulate.py (tastes over the six dimensions, "
        "popularity, noise); parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
    ]
    return records, events, notes, inputs
