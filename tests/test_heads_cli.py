"""``sv6d train-heads / reproject / eval-heads`` and ``sv6d encode --backbone vlm`` through the real CLI
(subprocesses of ``python -m cli.main``), on a small generated video corpus (``sv6d.synth``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from encoder.contrastive.heads import ContrastiveHeads, load_heads
from sv6d.dimensions import DIMENSIONS

N_VIDEOS = 10  # the least a 60/20/20 split accepts; every archetype appears at least once


def sv6d(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SV6D_DATA_DIR": str(cwd / "data")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _one_line_error(proc: subprocess.CompletedProcess[str], match: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert match in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    from sv6d.synth import generate_corpus

    root = tmp_path_factory.mktemp("heads_cli")
    generate_corpus(root / "corpus", N_VIDEOS, seed=2, workers=1)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from encoder.vlm.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "qwen2_vl", "qwen2_vl")


@pytest.fixture(scope="module")
def trained(work) -> dict:
    """train-heads on the evidence backbone: fills the cache, saves heads with a manifest."""
    return _ok(
        sv6d(
            "train-heads", "--corpus", "corpus", "--cache", "features", "--out", "heads_a",
            "--epochs", "3", "--seed", "1", "--json",
            cwd=work,
        )
    )  # fmt: skip


@pytest.mark.slow
def test_train_heads_saves_loadable_heads_with_manifest(work, trained):
    heads = load_heads(work / "heads_a")
    assert isinstance(heads, ContrastiveHeads)
    assert heads.version == trained["version"]
    assert trained["version"].startswith("contrastive-1-")
    assert set(trained["metrics"]) == {d.value for d in DIMENSIONS}
    assert trained["videos"] == {"train": 6, "val": 2, "test": 2}
    manifest = json.loads((work / "heads_a" / "heads.json").read_text())
    assert manifest["backbone"] == {"name": "evidence", "fingerprint": trained["fingerprint"]}
    # the encoder spec that uses them is saved beside them (sv6d ingest --spec heads_a)
    from encoder.spec import EncoderSpec

    spec = EncoderSpec.load(work / "heads_a")
    assert trained["spec"] == str(work / "heads_a" / "encoder.json")
    assert (spec.heads, spec.head_version) == (str((work / "heads_a").resolve()), trained["version"])
    assert spec.build().heads.version == trained["version"]
    assert all(d in heads.text_heads for d in DIMENSIONS)
    assert sorted(p.name for p in (work / "heads_a" / "checkpoints").iterdir()) == sorted(
        f"{d.value}.pt" for d in DIMENSIONS
    )
    assert len(list((work / "features" / trained["fingerprint"]).glob("*/*.npz"))) == N_VIDEOS


@pytest.mark.slow
def test_reproject_reindexes_with_the_new_head_version(work, trained):
    from indexer import open_index

    first = _ok(sv6d("reproject", "--heads", "heads_a", "--cache", "features", "--json", cwd=work))
    assert first["records"] == N_VIDEOS
    assert first["indexed"] == N_VIDEOS
    with open_index(None, data_dir=work / "data", read_only=True) as index:
        assert index.count() == N_VIDEOS
        vid = "synth-2-0000"
        rec = index.get(vid)
        assert rec.encoder.head_version == trained["version"]
        assert rec.encoder.name == "evidence"
        assert rec.encoder.fingerprint == trained["fingerprint"]
        assert rec.tags, "tags from encoding time come back from the cache"
        old_hook = rec.hook.copy()
    b = _ok(
        sv6d(
            "train-heads", "--corpus", "corpus", "--cache", "features", "--out", "heads_b",
            "--epochs", "2", "--seed", "7", "--json",
            cwd=work,
        )
    )  # fmt: skip
    assert b["version"] != trained["version"]
    # The index refuses to mix head versions: new heads into the same index is one clear error, nothing lost.
    clash = sv6d("reproject", "--heads", "heads_b", "--cache", "features", cwd=work)
    _one_line_error(clash, "different encoders or head versions")
    second = _ok(
        sv6d("reproject", "--heads", "heads_b", "--cache", "features", "--out", "b.parquet",
             "--data-dir", "data_b", "--json", cwd=work)
    )  # fmt: skip
    assert second["head_version"] == b["version"]
    assert (work / "b.parquet").is_file()
    with open_index(None, data_dir=work / "data", read_only=True) as index:
        assert index.count() == N_VIDEOS
        assert index.get(vid).encoder.head_version == trained["version"]
    with open_index(None, data_dir=work / "data_b", read_only=True) as index:
        assert index.count() == N_VIDEOS
        rec = index.get(vid)
        assert rec.encoder.head_version == b["version"]
        assert (rec.hook != old_hook).any()


@pytest.mark.slow
def test_eval_heads_json_has_the_issue_shape(work, trained):
    r = _ok(
        sv6d("eval-heads", "--backbone", "evidence", "--corpus", "corpus", "--cache", "features",
             "--epochs", "2", "--json", cwd=work)
    )  # fmt: skip
    assert set(r["dimensions"]) == {d.value for d in DIMENSIONS}
    for m in [*r["dimensions"].values(), *r["hook"]["dimensions"].values()]:
        assert set(m) == {"recall_at_10_before", "recall_at_10_after", "map_before", "map_after"}
        assert all(0.0 <= v <= 1.0 for v in m.values())
    assert 0.0 <= r["text_to_video_recall_at_10"] <= 1.0
    assert r["backbone"] == "evidence"
    assert r["videos"] == {"train": 6, "val": 2, "test": 2}


@pytest.mark.slow
def test_eval_heads_both_backbones_with_a_tiny_vlm(work, tiny):
    r = _ok(
        sv6d("eval-heads", "--backbone", "both", "--checkpoint", tiny, "--corpus", "corpus",
             "--cache", "features", "--epochs", "2", "--json", cwd=work)
    )  # fmt: skip
    assert set(r["backbones"]) == {"evidence", "vlm"}
    vlm = r["backbones"]["vlm"]
    assert set(vlm["dimensions"]) == {d.value for d in DIMENSIONS}
    assert vlm["head_version"] != r["backbones"]["evidence"]["head_version"]
    assert len([p for p in (work / "features").iterdir() if p.is_dir()]) == 2  # one cache per fingerprint


@pytest.mark.slow
def test_encode_vlm_without_heads_uses_untrained_projection(work, tiny):
    from encoder.batch import ShardStore

    video = work / "corpus" / "synth-2-0001.mp4"
    out = _ok(
        sv6d("encode", "--backbone", "vlm", "--checkpoint", tiny, video, "--data-dir", "enc",
             "--workers", "1", "--json", cwd=work)
    )  # fmt: skip
    assert len(out["encoded"]) == 1
    (rec,) = ShardStore(work / "enc" / "records").read_all()
    assert rec.encoder.name == "vlm"
    assert rec.encoder.head_version == "untrained-projection-1-s0"
    assert rec.video.shape == (6, 64)
    assert rec.hook.shape == (6, 64)


# ---------------------------------------------------------------------------------------- bad inputs


def test_reproject_with_a_missing_cache_is_one_clear_line(tmp_path):
    from encoder.vlm.heads import RandomProjectionHeads

    RandomProjectionHeads(dict.fromkeys(DIMENSIONS, 8), dim=8).save(tmp_path / "h")
    proc = sv6d("reproject", "--heads", "h", "--cache", "nowhere", cwd=tmp_path)
    _one_line_error(proc, "feature cache nowhere: no such folder")


def test_reproject_with_a_heads_folder_without_manifest(tmp_path):
    (tmp_path / "h").mkdir()
    proc = sv6d("reproject", "--heads", "h", "--cache", "features", cwd=tmp_path)
    _one_line_error(proc, "heads folder h: no heads.json manifest")


def test_reproject_with_an_unknown_fingerprint_names_the_present_ones(tmp_path):
    from encoder.vlm.heads import RandomProjectionHeads

    RandomProjectionHeads(dict.fromkeys(DIMENSIONS, 8), dim=8).save(tmp_path / "h")
    (tmp_path / "features" / "abc123").mkdir(parents=True)
    (tmp_path / "features" / "def456").mkdir()
    proc = sv6d("reproject", "--heads", "h", "--cache", "features", "--fingerprint", "zzz", cwd=tmp_path)
    _one_line_error(proc, "no features for fingerprint 'zzz'; present: abc123, def456")


def test_unsupported_checkpoint_is_refused_naming_the_supported_ones(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "corpus").mkdir()
    # A manifest-less corpus would be generated first: give one so the checkpoint is what fails.
    from sv6d.synth import generate_corpus

    generate_corpus(tmp_path / "corpus", 1, seed=0, workers=1)
    proc = sv6d(
        "train-heads", "--backbone", "vlm", "--checkpoint", "ckpt", "--corpus", "corpus", "--out", "h",
        cwd=tmp_path,
    )  # fmt: skip
    line = _one_line_error(proc, "model_type 'llama' is not supported")
    assert "qwen2_vl, qwen2_5_vl, qwen3_vl" in line


def test_unknown_backbone_is_refused(tmp_path):
    proc = sv6d("eval-heads", "--backbone", "clip", cwd=tmp_path)
    _one_line_error(proc, "--backbone 'clip' is not valid; choose one of: evidence, vlm, both")
