"""Training of the contrastive heads on cached backbone features.

Per dimension d, a video head g_d and a text head t_d are trained jointly:
- supervised InfoNCE (SupCon) on videos: positives of an anchor are the other in-batch videos sharing its
  label of dimension d (a tag label, or on the generated corpus its factor / hook archetype); negatives are
  the rest of the batch plus ``hard_negatives`` mined per anchor each epoch (the most similar videos, under
  the current head, whose label differs);
- text alignment: each video's embedding is classified against the text-head embeddings of every label's
  sentences (definition, and the label in words), and each sentence against the batch's videos (both ways);
- one learnable temperature per dimension (log-parametrised, clamped to [0.01, 1]).
With ``TrainConfig.joint_weights`` the six video heads are trained together instead, on the weighted mean of
their cosines (``_train_jointly``: what a search ranks by), each still reading its own dimension's features.
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
    # Share of the standardised inputs zeroed at random in each training step (0: none). Few sources mean
    # that a head can learn what one clip's footage looks like; dropping inputs makes it use several cues.
    input_dropout: float = 0.0
    # Standardised inputs are clipped to +-this (None: not clipped), in training and at projection alike.
    input_clip: float | None = None
    # None: each dimension's heads are trained on their own. Weights per dimension (a dimension left out
    # weighs 1): all six are trained together on the weighted similarity a search ranks by (_train_jointly).
    joint_weights: dict[str, float] | None = None
    # True: the epoch with the best validation mAP is kept. False: the last one (a refit on all the data for
    # a number of epochs chosen before on a validation part).
    select_epoch: bool = True


LabelledFeatures = dict[Dimension, tuple[np.ndarray, list[str]]]


def _texts_for(labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Two sentences per label (definition, words) and the label index of each sentence."""
    texts, owner = [], []
    for i, lab in enumerate(labels):
        for t in (label_text(lab), lab.replace("_", " ")):
            texts.append(t)
            owner.append(i)
    return texts, np.array(owner)


def _to_mlp(  # type: ignore[no-untyped-def]
    seq, mean: np.ndarray | None = None, std: np.ndarray | None = None, clip: float | None = None
) -> MLP:
    lin1, lin2 = seq[0], seq[2]

    def arr(t):  # type: ignore[no-untyped-def]
        return t.detach().float().cpu().numpy()

    return MLP(
        arr(lin1.weight).T.copy(),
        arr(lin1.bias),
        arr(lin2.weight).T.copy(),
        arr(lin2.bias),
        mean,
        std,
        None if clip is None else np.array(clip, dtype=np.float32),
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


class _DimState:
    """One dimension's training state: standardised inputs, labels, video and text heads, the best epoch."""

    def __init__(self, train, val, cfg: TrainConfig, device, text_encoder) -> None:  # type: ignore[no-untyped-def]
        import torch
        from torch import nn

        x_np, labels = train
        xv_np, vlabels = val
        self.names = sorted(set(labels) | set(vlabels))
        self.labels, self.vlabels = list(labels), list(vlabels)
        self.y = torch.tensor([self.names.index(v) for v in labels], device=device)
        self.clip = cfg.input_clip
        self.mean = x_np.mean(axis=0)
        self.std = x_np.std(axis=0) + 1e-4
        self.x = torch.from_numpy(self.standardise(x_np)).to(device)
        self.xv = torch.from_numpy(self.standardise(xv_np)).to(device)
        texts, self.owner_np = _texts_for(self.names)
        self.temb = torch.from_numpy(text_encoder.embed(texts)).to(device)
        self.owner = torch.from_numpy(self.owner_np).to(device)

        def mlp(inputs: int):  # type: ignore[no-untyped-def]
            layers = nn.Sequential(nn.Linear(inputs, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim))
            return layers.to(device)

        self.g = mlp(self.x.shape[1])
        self.t = mlp(self.temb.shape[1])
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
        self.best: tuple | None = None
        self.metrics: dict = {}

    def standardise(self, x_np: np.ndarray) -> np.ndarray:
        z = (x_np - self.mean) / self.std
        if self.clip is not None:
            z = np.clip(z, -self.clip, self.clip)
        return z.astype(np.float32)

    def params(self) -> list:
        return [*self.g.parameters(), *self.t.parameters(), self.log_scale]

    def scale(self):  # type: ignore[no-untyped-def]
        return self.log_scale.exp().clamp(1.0, 100.0)

    def embed(self, idx, dropout: float):  # type: ignore[no-untyped-def]
        import torch.nn.functional as F

        x = self.x[idx]
        if dropout > 0:
            x = F.dropout(x, dropout, training=True)
        return F.normalize(self.g(x).float(), dim=1)

    def text_loss(self, e, idx):  # type: ignore[no-untyped-def]
        """Each video against every sentence (positives: its label's), and each sentence against the batch."""
        import torch.nn.functional as F

        te = F.normalize(self.t(self.temb).float(), dim=1)
        v2t = e @ te.T * self.scale()
        tpos = self.owner[None, :] == self.y[idx][:, None]
        v2t_loss = -(v2t.log_softmax(1) * tpos).sum(1) / tpos.sum(1)
        t2v, vpos = v2t.T, tpos.T
        thas = vpos.any(dim=1)
        t2v_loss = -(t2v.log_softmax(1) * vpos).sum(1)[thas] / vpos.sum(1)[thas]
        return v2t_loss.mean() + t2v_loss.mean()

    def val_embeddings(self) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        self.g.eval()
        with torch.no_grad():
            return F.normalize(self.g(self.xv).float(), dim=1).cpu().numpy()

    def keep(self, epoch: int) -> None:
        self.best = (
            {k: v.clone() for k, v in self.g.state_dict().items()},
            {k: v.clone() for k, v in self.t.state_dict().items()},
            float(self.log_scale.detach()),
            epoch,
        )

    def checkpoint(self, directory: str | Path | None, name: str) -> None:
        import torch

        if directory is None or self.best is None:
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        state = {"video": self.best[0], "text": self.best[1], "log_scale": self.best[2]}
        torch.save(state, Path(directory) / f"{name}.pt")

    def finish(self, x_np: np.ndarray) -> tuple[MLP, MLP, TextAnchors]:
        """The best epoch's heads as numpy MLPs, and the text anchors of its trained video space."""
        assert self.best is not None
        self.g.load_state_dict(self.best[0])
        self.t.load_state_dict(self.best[1])
        video = _to_mlp(self.g, self.mean.astype(np.float32), self.std.astype(np.float32), self.clip)
        text = _to_mlp(self.t)
        # Label centroids of the trained video space: where free text is sent (ContrastiveHeads.project_text).
        emb = video(x_np)
        y_np = self.y.cpu().numpy()
        present = [i for i in range(len(self.names)) if (y_np == i).any() and self.names[i] != "none"]
        centroids = np.stack([emb[y_np == i].mean(axis=0) for i in present])
        keep = np.isin(self.owner_np, present)
        remap = {old: new for new, old in enumerate(present)}
        anchors = TextAnchors(
            self.temb.cpu().numpy()[keep],
            np.array([remap[int(o)] for o in self.owner_np[keep]]),
            centroids / np.linalg.norm(centroids, axis=1, keepdims=True),
            [self.names[i] for i in present],
            # The direction of least energy of the training embeddings: cos ~ 0 with every video.
            np.linalg.svd(emb, full_matrices=True)[2][-1].astype(np.float32),
        )
        temperature = round(math.exp(-self.best[2]), 4)
        self.metrics.update({"best_epoch": self.best[3], "temperature": temperature, "labels": self.names})
        return video, text, anchors


class _EarlyStop:
    """The best validation score so far, and whether ``patience`` epochs have passed without a better one."""

    def __init__(self, patience: int) -> None:
        self.best, self.stale, self.patience = -1.0, 0, patience

    def better(self, score: float) -> bool:
        if score > self.best + 1e-4:
            self.best, self.stale = score, 0
            return True
        self.stale += 1
        return False

    @property
    def done(self) -> bool:
        return self.stale >= self.patience


def _report(progress: bool, name: str, epoch: int, epochs: int, loss, score: float, log_scale) -> None:  # type: ignore[no-untyped-def]
    if progress:
        sys.stderr.write(
            f"\r{name:>13} epoch {epoch + 1:3d}/{epochs} loss {float(loss.detach()):.3f} "
            f"val mAP {score:.3f} T {1 / float(log_scale.detach().exp()):.3f}"
        )


def _batches(rng, n: int, size: int, device):  # type: ignore[no-untyped-def]
    """One epoch's batches of row indices in a fresh random order (a last batch of one row is skipped)."""
    import torch

    order = torch.from_numpy(rng.permutation(n)).to(device)
    for start in range(0, n, size):
        idx = order[start : start + size]
        if len(idx) >= 2:
            yield idx


def _supcon(logits, pos):  # type: ignore[no-untyped-def]
    """Supervised InfoNCE over rows of ``logits`` (self-similarity already masked) with positives ``pos``."""
    logp = logits.log_softmax(dim=1)
    has = pos.any(dim=1)
    sup = -(logp * pos).sum(1)[has] / pos.sum(1)[has]
    return sup.mean() if has.any() else logits.sum() * 0


def _train(train, val, cfg, device, amp, text_encoder, rng, checkpoint_dir, progress) -> ContrastiveHeads:  # type: ignore[no-untyped-def]
    started = time.time()
    for d in DIMENSIONS:
        n = len(train[d][0])
        if n < 4:
            raise ConfigError(f"train-heads: dimension {d.value} has {n} training videos (need >= 4)")
    states = {d: _DimState(train[d], val[d], cfg, device, text_encoder) for d in DIMENSIONS}
    joint = None
    if cfg.joint_weights is None:
        for d in DIMENSIONS:
            _train_alone(d, states[d], cfg, device, amp, rng, checkpoint_dir, progress)
    else:
        joint = _train_jointly(states, cfg, device, amp, rng, checkpoint_dir, progress)
    video_heads: dict[Dimension, MLP] = {}
    text_heads: dict[Dimension, MLP] = {}
    anchors: dict[Dimension, TextAnchors] = {}
    metrics: dict[str, dict] = {}
    for d, s in states.items():
        video_heads[d], text_heads[d], anchors[d] = s.finish(train[d][0])
        metrics[d.value] = s.metrics
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
    if joint is not None:
        manifest["joint"] = joint
    return ContrastiveHeads(
        cfg.dim,
        video_heads,
        text_heads,
        f"{HEADS_VERSION_PREFIX}-{digest.hexdigest()[:10]}",
        manifest,
        anchors,
    )


def _train_alone(  # type: ignore[no-untyped-def]
    d: Dimension, s: _DimState, cfg: TrainConfig, device, amp, rng, checkpoint_dir, progress
) -> None:
    """One dimension's heads on their own: SupCon with mined hard negatives, plus the text alignment."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.AdamW(s.params(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x, y, g = s.x, s.y, s.g
    stop = _EarlyStop(cfg.patience)
    n = len(x)
    loss = torch.zeros(())
    for epoch in range(cfg.epochs):
        g.eval()
        with torch.no_grad():
            all_e = F.normalize(g(x).float(), dim=1)
            sim = all_e @ all_e.T
            sim[y[:, None] == y[None, :]] = -2.0  # only different labels can be hard negatives
            k = min(cfg.hard_negatives, n - 1)
            mined = sim.topk(k, dim=1).indices if k > 0 else None
        g.train()
        for idx in _batches(rng, n, cfg.batch_size, device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                e = s.embed(idx, cfg.input_dropout)
                scale = s.scale()
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
                loss = _supcon(logits, pos) + cfg.text_weight * s.text_loss(e, idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = retrieval_metrics(s.val_embeddings(), s.vlabels)["map"]
        _report(progress, d.value, epoch, cfg.epochs, loss, score, s.log_scale)
        if stop.better(score) or not cfg.select_epoch:
            s.keep(epoch + 1)
            s.checkpoint(checkpoint_dir, d.value)
            s.metrics["val_map"] = round(score, 4)
        elif stop.done:
            break
    if progress:
        sys.stderr.write("\n")


def _train_jointly(states: dict, cfg: TrainConfig, device, amp, rng, checkpoint_dir, progress) -> dict:  # type: ignore[no-untyped-def]
    """All six heads at once, for the similarity a search ranks by: SupCon on ``sum_d w_d cos_d / sum_d w_d``
    (``cfg.joint_weights``), so that each dimension's head learns what its own evidence adds to the others
    rather than the whole task alone (measured on the hook benchmark's training sources, source-grouped
    3-fold: P@5 0.49 against 0.44 with the same heads trained one by one). Each head still sees only its own
    dimension's features. A dimension weighted 0 is trained on its own (it is not in the sum). Each text head
    learns the trained video space as in ``_train_alone`` but its loss does not reach the video heads: with
    it, the openings' sentences pulled the video space towards what the sentences tell apart (P@5 0.41 with
    text weight 0.5 against 0.49 without, same folds). The epoch is chosen on the validation part's mAP under
    the same weighted similarity."""
    import torch

    w = {d: float(cfg.joint_weights.get(d.value, 1.0)) for d in DIMENSIONS}  # type: ignore[union-attr]
    if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise ConfigError(f"joint weights must be >= 0 and not all 0, got {cfg.joint_weights}")
    labels = {tuple(s.labels) for s in states.values()}
    vlabels = {tuple(s.vlabels) for s in states.values()}
    if len(labels) != 1 or len(vlabels) != 1:
        raise ConfigError("joint training needs the same label for a video in every dimension")
    total = sum(w.values())
    summed = [d for d in DIMENSIONS if w[d] > 0]
    alone = [d for d in DIMENSIONS if w[d] == 0]
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    params = [log_scale, *(p for s in states.values() for p in s.params())]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    y = states[DIMENSIONS[0]].y
    n = len(y)
    stop = _EarlyStop(cfg.patience)
    loss = torch.zeros(())
    for epoch in range(cfg.epochs):
        for s in states.values():
            s.g.train()
        for idx in _batches(rng, n, cfg.batch_size, device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                eye = torch.eye(len(idx), dtype=torch.bool, device=device)
                pos = (y[idx][:, None] == y[idx][None, :]) & ~eye
                e = {d: states[d].embed(idx, cfg.input_dropout) for d in DIMENSIONS}
                sim = sum(w[d] / total * (e[d] @ e[d].T) for d in summed)
                scale = log_scale.exp().clamp(1.0, 100.0)
                loss = _supcon((sim * scale).masked_fill(eye, -1e9), pos)  # type: ignore[operator]
                for d in alone:
                    loss = loss + _supcon((e[d] @ e[d].T * states[d].scale()).masked_fill(eye, -1e9), pos)
                for d in DIMENSIONS:  # the text side follows the video space; it does not pull it (below)
                    loss = loss + cfg.text_weight * states[d].text_loss(e[d].detach(), idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        ev = {d: states[d].val_embeddings() for d in DIMENSIONS}
        combined = np.concatenate([np.sqrt(w[d] / total) * ev[d] for d in summed], axis=1)
        vl = states[DIMENSIONS[0]].vlabels
        score = retrieval_metrics(combined, vl)["map"]
        _report(progress, "joint", epoch, cfg.epochs, loss, score, log_scale)
        if stop.better(score) or not cfg.select_epoch:
            for d in DIMENSIONS:
                states[d].keep(epoch + 1)
                states[d].metrics["val_map"] = round(retrieval_metrics(ev[d], vl)["map"], 4)
                states[d].checkpoint(checkpoint_dir, d.value)
            kept_score, best_temperature = score, 1 / float(log_scale.detach().exp())
        elif stop.done:
            break
    if progress:
        sys.stderr.write("\n")
    return {
        "weights": {d.value: w[d] for d in DIMENSIONS},
        "val_map": round(kept_score, 4),
        "best_epoch": states[DIMENSIONS[0]].best[3],
        "temperature": round(best_temperature, 4),
    }
