"""The layers of DESIGN.md: who may import whom, and heavy libraries loaded only where needed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sv6d", "encoder", "indexer", "ranker", "api", "cli")
# package -> project packages it must never import (at any depth, lazily or not); cli is the top layer
FORBIDDEN = {
    "sv6d": {"encoder", "indexer", "ranker", "api", "cli"},  # the core
    "encoder": {"indexer", "ranker", "api", "cli"},
    "indexer": {"encoder", "ranker", "api", "cli"},
    "ranker": {"encoder", "api", "cli"},
    "api": {"cli"},
    "cli": set(),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_layers(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_nothing_imports_the_api_or_the_cli() -> None:
    top = {"api": {"cli"}, "cli": set()}  # the api may not import the cli; nothing imports either otherwise
    offenders = []
    for package in PACKAGES:
        barred = top.get(package, {"api", "cli"})
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = _imports(path) & barred
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_light_imports_stay_light() -> None:
    code = (
        "import sys, sv6d, sv6d.record, indexer, ranker, encoder, cli.main\n"
        "mods = ('torch', 'transformers', 'faiss', 'lightgbm', 'cv2', 'fastapi')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"heavy modules loaded at import time: {out.stdout.strip()}"
