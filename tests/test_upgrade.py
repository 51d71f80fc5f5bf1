"""``sv6d upgrade``: new heads applied to a data directory re-project kept features (re-encode the rest) into
a new generation, switched to atomically; a crash in the middle leaves the old index answering as before."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers_video import cut_video

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _data_dir(tmp_path: Path, n: int) -> tuple[Path, list[Path]]:
    from cli import workflows

    videos = []
    for i in range(n):
        p = tmp_path / "in" / f"clip{i:02d}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        cut_video(p, [12 + 3 * i, 18, 10], fps=10)
        videos.append(p)
    data = tmp_path / "data"
    assert len(workflows.ingest(videos, data, workers=2).encoded) == n
    return data, videos


def _new_heads(folder: Path) -> Path:
    from encoder.heads import FixedLayoutHeads

    FixedLayoutHeads(dim=64).save(folder)
    return folder


def _answers(data: Path) -> dict[str, list[tuple[str, float]]]:
    """Every stored video's top-5 video and hook neighbours (ids and scores), through a fresh reader."""
    from indexer import open_index

    out = {}
    with open_index(None, data_dir=data, read_only=True) as index:
        for vid in sorted(index.video_ids()):
            for level in ("video", "hook"):
                hits = index.search(vid, k=5, level=level)  # type: ignore[arg-type]
                out[f"{level}:{vid}"] = [(h.video_id, round(float(h.score), 6)) for h in hits]
    return out


def test_upgrade_reprojects_kept_features_reencodes_the_rest_and_switches(tmp_path: Path) -> None:
    from cli.upgrade import upgrade
    from encoder.batch import ShardStore
    from encoder.spec import EncoderSpec, data_dir_spec
    from indexer import open_index
    from sv6d.datadir import features_dir, read_data_manifest, records_dir

    data, _videos = _data_dir(tmp_path, 3)
    old_heads = data_dir_spec(data).head_version  # type: ignore[union-attr]
    kept = sorted(features_dir(data).glob("*/*/*.npz"))
    assert len(kept) == 3  # ingest keeps every video's backbone features
    kept[0].unlink()  # one video without kept features: it is encoded again
    with open_index(None, data_dir=data, read_only=True) as before_reader:
        before = {v: before_reader.get(v) for v in before_reader.video_ids()}
        heads = _new_heads(tmp_path / "heads")
        result = upgrade(data, data_dir_spec(data).changed(heads=heads), workers=1)  # type: ignore[union-attr]
        # a reader opened before the switch keeps its generation
        assert {v: before_reader.get(v).encoder.head_version for v in before} == dict.fromkeys(
            before, old_heads
        )
    assert (result.reprojected, result.encoded, result.records, result.indexed) == (2, 1, 3, 3)
    assert result.switched
    assert result.generation == 1
    manifest = read_data_manifest(data)
    assert (manifest.records, manifest.index, manifest.previous) == (
        "gen-1/records",
        "gen-1/index",
        ["records", "index"],
    )
    fresh = EncoderSpec(heads=str(heads)).build()
    with open_index(None, data_dir=data, read_only=True) as index:
        assert index.count() == 3
        for vid, old in before.items():
            new = index.get(vid)
            assert new.encoder.head_version == "fixed-layout-1"
            assert (new.title, new.source, new.hook_window) == (old.title, old.source, old.hook_window)
            # re-projected from kept features == encoded from the file with the new heads
            direct = fresh.encode_file(new.source)
            np.testing.assert_allclose(new.video, direct.video, atol=1e-6)
            np.testing.assert_allclose(new.hook, direct.hook, atol=1e-6)
            assert [t.label for t in new.tags] == [t.label for t in direct.tags]
    assert {r.encoder.head_version for r in ShardStore(records_dir(data)).read_all()} == {"fixed-layout-1"}

    # the same encoder again: nothing to do; back to the default heads: generation 2, generation 0 removed
    assert not upgrade(data, data_dir_spec(data), workers=1).switched  # type: ignore[arg-type]
    back = upgrade(data, EncoderSpec(), workers=1)
    assert (back.generation, back.reprojected, back.encoded) == (2, 3, 0)
    assert not (data / "records").exists()
    assert not (data / "index").exists()
    assert (data / "gen-1" / "index").is_dir()
    assert data_dir_spec(data).head_version == old_heads  # type: ignore[union-attr]


def test_a_killed_upgrade_leaves_the_old_index_answering_and_the_rerun_finishes(tmp_path: Path) -> None:
    from cli.upgrade import upgrade
    from encoder.spec import data_dir_spec
    from indexer import open_index
    from sv6d.datadir import manifest_path
    from sv6d.errors import ConfigError

    data, _ = _data_dir(tmp_path, 4)
    heads = _new_heads(tmp_path / "heads")
    answers = _answers(data)
    # another writer (an ingest, an API serving the directory) would write into the generation being
    # replaced: the upgrade is refused while one holds the index
    with open_index(None, data_dir=data), pytest.raises(ConfigError, match="writer lock"):
        upgrade(data, data_dir_spec(data).changed(heads=heads), workers=1)  # type: ignore[union-attr]
    assert not (data / "gen-1").exists()
    manifest = manifest_path(data).read_bytes()
    # SIGKILL in the middle: after two of the four videos were re-projected into the new generation
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from encoder.spec import data_dir_spec
        from cli.upgrade import upgrade

        done = []

        def progress(path, status):
            done.append(path)
            if len(done) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        if __name__ == "__main__":
            data = Path({str(data)!r})
            upgrade(data, data_dir_spec(data).changed(heads={str(heads)!r}), workers=1, on_progress=progress)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert (data / "gen-1" / "records").is_dir()  # it was in the middle
    assert manifest_path(data).read_bytes() == manifest  # no switch
    assert _answers(data) == answers  # the old index answers exactly as before

    result = upgrade(data, data_dir_spec(data).changed(heads=heads), workers=1)  # type: ignore[union-attr]
    assert (result.kept, result.reprojected, result.encoded, result.indexed) == (2, 2, 0, 4)
    assert json.loads(manifest_path(data).read_text())["encoder"]["head_version"] == "fixed-layout-1"
    assert _answers(data) != answers


def test_records_older_than_the_manifest_are_brought_to_its_encoder(tmp_path: Path) -> None:
    """A data directory whose records predate its manifest: the manifest came to record the default encoder
    while the records were made with other heads. Ingesting there failed on mixed heads, and `sv6d upgrade`
    said there was nothing to do; now an upgrade to the recorded encoder (what `sv6d upgrade` without options
    and a second `make demo` run) re-makes the records, and ingesting works again."""
    from cli import workflows
    from cli.demo import bring_to_its_encoder
    from encoder.batch import ShardStore, encoder_identity
    from encoder.spec import EncoderSpec, data_dir_spec
    from sv6d.datadir import manifest_path, records_dir

    videos = []
    for i in range(3):
        p = tmp_path / "in" / f"clip{i:02d}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        cut_video(p, [12 + 3 * i, 18, 10], fps=10)
        videos.append(p)
    data = tmp_path / "data"
    other = EncoderSpec().changed(heads=_new_heads(tmp_path / "heads")).resolved()
    assert len(workflows.ingest(videos[:2], data, workers=1, spec=other).encoded) == 2
    manifest_path(data).unlink()  # as before data directories recorded their encoder

    result = bring_to_its_encoder(data)  # records the default encoder, then brings the records to it
    assert result is not None
    assert result.switched
    assert result.head_version_before == other.head_version  # what the records were made with
    spec = data_dir_spec(data)
    assert spec is not None
    assert spec.head_version == EncoderSpec().resolved().head_version != other.head_version
    identity = encoder_identity(spec.build())
    assert all(identity.made(s) for s in ShardStore(records_dir(data)).latest().values())
    assert len(workflows.ingest(videos, data, workers=1).encoded) == 1  # the third adds to the same index
    assert bring_to_its_encoder(data) is None  # nothing left to do


def test_a_data_directory_of_an_earlier_release_s_packaged_heads_is_brought_to_this_release_s(
    tmp_path: Path,
) -> None:
    """The manifest names default heads this release no longer ships (packaged hook heads retrained since):
    building its encoder is refused with the way out in the message; a second `make demo` and `sv6d upgrade`
    without options bring the records to this release's packaged heads."""
    from typer.testing import CliRunner

    from cli import workflows
    from cli.demo import bring_to_its_encoder
    from cli.main import app
    from encoder.spec import EncoderSpec, data_dir_spec, spec_for_data_dir
    from sv6d.datadir import manifest_path
    from sv6d.errors import ConfigError

    videos = []
    for i in range(2):
        p = tmp_path / "in" / f"clip{i:02d}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        cut_video(p, [12 + 3 * i, 18], fps=10)
        videos.append(p)
    data = tmp_path / "data"
    assert len(workflows.ingest(videos, data, workers=1).encoded) == 2
    current = EncoderSpec().resolved().head_version

    def as_an_earlier_release_left_it() -> None:
        doc = json.loads(manifest_path(data).read_text())
        doc["encoder"]["head_version"] = "fixed-layout-1+hook:contrastive-1-0123456789"
        manifest_path(data).write_text(json.dumps(doc))

    as_an_earlier_release_left_it()
    with pytest.raises(ConfigError, match="sv6d upgrade"):
        spec_for_data_dir(data).build()
    result = bring_to_its_encoder(data)  # the demo
    assert result is not None
    assert result.switched
    assert result.head_version == current
    assert bring_to_its_encoder(data) is None  # a third demo finds nothing to do

    as_an_earlier_release_left_it()
    res = CliRunner().invoke(app, ["upgrade", "--data-dir", str(data), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["head_version"] == current
    spec = data_dir_spec(data)
    assert spec is not None
    assert spec.head_version == current
