"""The walkthrough notebook runs top to bottom in QUICK mode (as CI runs it)."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT


@pytest.mark.slow
def test_notebook_runs_in_quick_mode(tmp_path, monkeypatch):
    path = ROOT / "notebooks" / "mask2face.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert "QUICK = True" in notebook.cells[1].source
    monkeypatch.setenv("MASK2FACE_NOTEBOOK_OUT", str(tmp_path / "notebook"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError on any error cell
    errors = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert (tmp_path / "notebook" / "report" / "metrics.json").exists()
    assert list((tmp_path / "notebook" / "models").glob("*/model.keras"))
