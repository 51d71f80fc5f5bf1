"""Execute the notebooks on small data so that they cannot rot."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.shared_data
def test_kuairand_notebook_runs(shared_data, monkeypatch) -> None:
    monkeypatch.setenv("SV6D_SHARED_DATA", str(shared_data))
    monkeypatch.setenv("SV6D_NOTEBOOK_USERS", "25")
    nb = nbformat.read(NOTEBOOKS / "kuairand_experiment.ipynb", as_version=4)
    # Kernelspec "python3" starts `python`, which jupyter_client replaces with this interpreter (the venv).
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert os.environ["SV6D_NOTEBOOK_USERS"] == "25"
