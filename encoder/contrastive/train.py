"""Training of the contrastive heads on cached backbone features.

Per dimension d, a video head g_d and a text head t_d are trained jointly:
- supervised InfoNCE (SupCon) on videos: positives of an anchor are the other in-batch videos sharing its
  label of dimension d (a tag label, or on the generated corpus its factor / hook archetype); negatives are
  the rest of the batch plus ``hard_negatives`` mined per anchor each epoch (the most similar videos, under
  the current head, whose label differs);
- text alignment: each video's embedding is classified against the text-head embeddings of every label's
  sentences (definition, and the label in words), and each sentence against the batch's videos (both ways);
- one learnable temperature per dimension (log-parametrised, clamped to [0.01, 1]).
Seeded; progress on stderr; best state per dimension checkpointed; early stopping on validation mAP; bf16
autocast on CUDA.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from encoder.contrastive.evaluate import retrieval_metrics
from encoder.contrastive.heads import MLP, ContrastiveHeads, TextAnchors
from encoder.contrastive.text import TextEncoder, label_text
from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

HEADS_VERSION_PREFIX = "contrastive-1"


@dataclass
class TrainConfig:
    dim: int = 64
    hidden: int = 256
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    hard_negatives: int = 4
    text_weight: float = 0.5
    patience: int = 8
    seed: int = 0
    device: str | None = None


LabelledFeatures = dict[Dimension, tuple[np.ndarray, list[str]]]


def _texts_for(labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Two sentences per label (definition, words) and the label index of each sentence."""
    texts, owner = [], []
    for i, lab in enumerate(labels):
        for t in (label_text(lab), lab.replace("_", " ")):
            texts.append(t)
            owner.append(i)
    return texts, np.array(owner)


def _to_mlp(seq, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> MLP:  # type: ignore[no-untyped-def]
    lin1, lin2 = seq[0], seq[2]

    def arr(t):  # type: ignore[no-untyped-def]
        return t.detach().float().cpu().numpy()

    return MLP(
        arr(lin1.weight).T.copy(), arr(lin1.bias), arr(lin2.weight).T.copy(), arr(lin2.bias), mean, std
    )


def train_heads(
    train: LabelledFeatures,
    val: LabelledFeatures,
    config: TrainConfig | None = None,
    checkpoint_dir: str | Path | None = None,
    text_encoder: TextEncoder | None = None,
    progress: bool = True,
) -> ContrastiveHeads:
    """Train heads for all six dimensions; ``ContrastiveHeads`` with config and metrics in the manifest."""
    import torch

    cfg = config or TrainConfig()
    if set(train) != set(DIMENSIONS) or set(val) != set(DIMENSIONS):
        raise ConfigError("train-heads needs features and labels for all six dimensions")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = device.type == "cuda"
    text_encoder = text_encoder or TextEncoder.shared()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # Tiny MLPs gain nothing from intra-op threads; on a shared box they cost 7x (measured) in contention.
        torch.set_num_threads(1)
    try:
        return _train(train, val, cfg, device, amp, text_encoder, rng, checkpoint_dir, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train, val, cfg, device, amp, text_encoder, rng, checkpoint_dir, progress) -> ContrastiveHeads:  # type: ignore[no-untyped-def]
    import torch
    import torch.nn.functional as F
    from torch import nn

    video_heads: dict[Dimension, MLP] = {}
    text_heads: dict[Dimension, MLP] = {}
    anchors: dict[Dimension, TextAnchors] = {}
    metrics: dict[str, dict] = {}
    started = time.time()
    for d in DIMENSIONS:
        x_np, labels = train[d]
        xv_np, vlabels = val[d]
        if len(x_np) < 4:
            raise ConfigError(f"train-heads: dimension {d.value} has {len(x_np)} training videos (need >= 4)")
        names = sorted(set(labels) | set(vlabels))
        y = torch.tensor([names.index(v) for v in labels], device=device)
        mean = x_np.mean(axis=0)
        std = x_np.std(axis=0) + 1e-4
        x = torch.from_numpy(((x_np - mean) / std).astype(np.float32)).to(device)
        xv = torch.from_numpy(((xv_np - mean) / std).astype(np.float32)).to(device)
        texts, owner_np = _texts_for(names)
        temb = torch.from_numpy(text_encoder.embed(texts)).to(device)
        owner = torch.from_numpy(owner_np).to(device)
        g = nn.Sequential(nn.Linear(x.shape[1], cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim)).to(
            device
        )
        t = nn.Sequential(nn.Linear(temb.shape[1], cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim)).to(
            device
        )
        log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
        params = [*g.parameters(), *t.parameters(), log_scale]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, stale = -1.0, None, 0
        n = len(x)
        for epoch in range(cfg.epochs):
            g.eval()
            with torch.no_grad():
                all_e = F.normalize(g(x).float(), dim=1)
                sim = all_e @ all_e.T
                sim[y[:, None] == y[None, :]] = -2.0  # only different labels can be hard negatives
                k = min(cfg.hard_negatives, n - 1)
                mined = sim.topk(k, dim=1).indices if k > 0 else None
            g.train()
            order = torch.from_numpy(rng.permutation(n)).to(device)
            for s in range(0, n, cfg.batch_size):
                idx = order[s : s + cfg.batch_size]
                if len(idx) < 2:
                    continue
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    e = F.normalize(g(x[idx]).float(), dim=1)
                    scale = log_scale.exp().clamp(1.0, 100.0)
                    logits = e @ e.T * scale
                    eye = torch.eye(len(idx), dtype=torch.bool, device=device)
                    logits = logits.masked_fill(eye, -1e9)
                    pos = (y[idx][:, None] == y[idx][None, :]) & ~eye
                    if mined is not None:
                        hn = F.normalize(g(x[mined[idx]].reshape(-1, x.shape[1])).float(), dim=1)
                        hn = hn.reshape(len(idx), -1, cfg.dim)
                        hard = torch.einsum("bd,bkd->bk", e, hn) * scale
                        logits = torch.cat([logits, hard], dim=1)
                        pos = torch.cat([pos, torch.zeros_like(hard, dtype=torch.bool)], dim=1)
                    logp = logits.log_softmax(dim=1)
                    has = pos.any(dim=1)
                    sup = -(logp * pos).sum(1)[has] / pos.sum(1)[has]
                    loss = sup.mean() if has.any() else logits.sum() * 0
                    te = F.normalize(t(temb).float(), dim=1)
                    v2t = e @ te.T * scale  # each video against every sentence; positives: its label's
                    tpos = owner[None, :] == y[idx][:, None]
                    v2t_loss = -(v2t.log_softmax(1) * tpos).sum(1) / tpos.sum(1)
                    t2v = v2t.T
                    vpos = tpos.T
                    thas = vpos.any(dim=1)
                    t2v_loss = -(t2v.log_softmax(1) * vpos).sum(1)[thas] / vpos.sum(1)[thas]
                    loss = loss + cfg.text_weight * (v2t_loss.mean() + t2v_loss.mean())
                opt.zero_grad()
                loss.backward()
                opt.step()
            g.eval()
            with torch.no_grad():
                ev = F.normalize(g(xv).float(), dim=1).cpu().numpy()
            score = retrieval_metrics(ev, vlabels)["map"]
            if progress:
                sys.stderr.write(
                    f"\r{d.value:>13} epoch {epoch + 1:3d}/{cfg.epochs} loss {float(loss.detach()):.3f} "
                    f"val mAP {score:.3f} T {1 / float(log_scale.detach().exp()):.3f}"
                )
            if score > best + 1e-4:
                best, stale = score, 0
                best_state = (
                    {k2: v.clone() for k2, v in g.state_dict().items()},
                    {k2: v.clone() for k2, v in t.state_dict().items()},
                    float(log_scale.detach()),
                    epoch + 1,
                )
                if checkpoint_dir is not None:
                    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
                    torch.save(
                        {"video": best_state[0], "text": best_state[1], "log_scale": best_state[2]},
                        Path(checkpoint_dir) / f"{d.value}.pt",
                    )
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        if progress:
            sys.stderr.write("\n")
        assert best_state is not None
        g.load_state_dict(best_state[0])
        t.load_state_dict(best_state[1])
        video_heads[d] = _to_mlp(g, mean.astype(np.float32), std.astype(np.float32))
        text_heads[d] = _to_mlp(t)
        # Label centroids of the trained video space: where free text is sent (ContrastiveHeads.project_text).
        emb = video_heads[d](x_np)
        y_np = y.cpu().numpy()
        present = [i for i in range(len(names)) if (y_np == i).any() and names[i] != "none"]
        centroids = np.stack([emb[y_np == i].mean(axis=0) for i in present])
        keep = np.isin(owner_np, present)
        remap = {old: new for new, old in enumerate(present)}
        anchors[d] = TextAnchors(
            temb.cpu().numpy()[keep],
            np.array([remap[int(o)] for o in owner_np[keep]]),
            centroids / np.linalg.norm(centroids, axis=1, keepdims=True),
            [names[i] for i in present],
            # The direction of least energy of the training embeddings: cos ~ 0 with every video.
            np.linalg.svd(emb, full_matrices=True)[2][-1].astype(np.float32),
        )
        metrics[d.value] = {
            "val_map": round(best, 4),
            "best_epoch": best_state[3],
            "temperature": round(math.exp(-best_state[2]), 4),
            "labels": names,
        }
    import torch as _torch

    digest = hashlib.sha256()
    for d in DIMENSIONS:
        for m in (video_heads[d], text_heads[d]):
            digest.update(m.w1.tobytes() + m.w2.tobytes())
    manifest = {
        "config": asdict(cfg),
        "metrics": metrics,
        "train_videos": len(next(iter(train.values()))[0]),
        "seconds": round(time.time() - started, 1),
        "versions": {"torch": _torch.__version__, "numpy": np.__version__},
    }
    return ContrastiveHeads(
        cfg.dim,
        video_heads,
        text_heads,
        f"{HEADS_VERSION_PREFIX}-{digest.hexdigest()[:10]}",
        manifest,
        anchors,
    )
