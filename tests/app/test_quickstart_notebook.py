"""notebooks/quickstart.ipynb: stored without outputs, and runs top to bottom on the CPU (nbclient, own kernel)."""

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) == 6
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_notebook_runs(tmp_path, monkeypatch):
    pytest.importorskip("ipykernel", reason="the test extra is not installed (ipykernel)")
    root = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    started = time.monotonic()
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    print(f"notebook ran in {time.monotonic() - started:.0f} s")
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert f"from {root}" in text  # this checkout's package
    assert "video size 64 x 64" in text
    assert "generated (8, 64, 64, 3)" in text
    assert "motion_vectors: (1, 2, 8, 64, 64)" in text and "sketch: (1, 1, 8, 96, 96)" in text
    table = re.compile(r"^(source clip|motion transfer)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", re.MULTILINE)
    rows = {match[0]: match[1:] for match in table.findall(text)}
    assert set(rows) == {"source clip", "motion transfer"}
    for warping, flickering, mv_error in rows.values():  # the evaluation table: finite, in range
        assert 0 <= float(warping) < 1 and 0 < float(flickering) <= 1 and 0 <= float(mv_error) < 64
    images = [output for output in outputs if output.output_type == "display_data" and "image/gif" in output.data]
    assert len(images) == 2  # the two condition grids, inline
    for name in ("stroke.mp4", "stroke_grid.gif", "source.mp4", "transfer_grid.gif"):
        assert (tmp_path / name).stat().st_size > 0
