"""The CLI's conventions: one JSON document with --json, one-line errors naming the problem, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _sv6d(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=full_env, cwd=cwd
    )


def test_vocab_json_is_one_document() -> None:
    out = _sv6d("vocab", "--json")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert {"label", "dimension", "definition", "evidence"} <= set(doc["labels"][0])


def test_invalid_settings_are_one_line_naming_the_field(tmp_path: Path) -> None:
    out = _sv6d(
        "serve",
        "--port",
        "18799",
        "--data-dir",
        str(tmp_path),
        env={"SV6D_API_KEYS": '["short"]'},
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "error: Settings: api_keys: keys at positions [0] are shorter than 16 characters"
    )


def test_encode_of_a_missing_path_names_it(tmp_path: Path) -> None:
    out = _sv6d("encode", str(tmp_path / "nope.mp4"), "--data-dir", str(tmp_path), "--json")
    assert out.returncode == 2
    assert "nope.mp4: no such file or directory" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
