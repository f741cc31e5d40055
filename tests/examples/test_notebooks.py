"""The example notebooks run as written, top to bottom, in a fresh kernel: they cannot rot.

Each notebook starts its own local chain and market, so nothing here depends on the test suite's
chain; a cell that raises fails the test with the cell's traceback.
"""

from __future__ import annotations

import pytest

from dfmi_py.paths import PROJECT_ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((PROJECT_ROOT / "examples").glob("*.ipynb"))

#: What each notebook must print, beyond running without an error.
PRINTED = {
    # the books without a key show addresses and say so; the regulator's key opens every member
    "books.ipynb": (
        "identities not shown: no regulator key given (addresses only)",
        "identities shown: 5 of 5 accounts",
    ),
}


def test_there_is_an_example_notebook():
    assert "books.ipynb" in {path.name for path in NOTEBOOKS}, "examples/books.ipynb: the analysts' notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_notebook_runs_from_top_to_bottom(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("DFMI_DEPLOYMENTS_DIR", str(tmp_path / "deployments"))
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    # every view the notebook shows renders as a table
    tables = [output for output in outputs if "text/html" in output.get("data", {})]
    assert len(tables) >= 8
    printed = "".join(output.get("text", "") for output in outputs)
    for line in PRINTED.get(path.name, ()):
        assert line in printed
