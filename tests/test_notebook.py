"""notebooks/explore_e_ophtha.ipynb runs top to bottom: on the synthetic e_ophtha dataset and a tiny export."""

import pathlib

import nbformat
from nbclient import NotebookClient

from retina_tf.conftest import exported  # noqa: F401  the tiny export, a fixture of the library's tests
from retina_tf.datasets import DUMMY_DATA

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "explore_e_ophtha.ipynb"


def _outputs(cell, mime: str) -> list[str]:
    return [output["data"][mime] for output in cell.get("outputs", []) if mime in output.get("data", {})]


def test_the_notebook_runs_top_to_bottom(eophtha_data_dir, exported, monkeypatch, tmp_path):  # noqa: F811
    for name, value in {"DATA_DIR": eophtha_data_dir, "DATASET": "e_ophtha/patients_512", "MANUAL_DIR": DUMMY_DATA,
                        "SAVED_MODEL": exported.export_base / "retina", "SPLIT": "test"}.items():
        monkeypatch.setenv(f"RETINA_TF_{name}", str(value))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Fails with the cell's traceback when a cell raises; run outside the checkout.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    pictures = sum(len(_outputs(cell, "image/png")) for cell in code)
    assert pictures == 3, "dataset figure, overlay on the photograph, result sheet"
    (table,) = [text for cell in code for text in _outputs(cell, "text/markdown")]
    assert "Paper's mAP" in table and "Photographs: 2" in table
    printed = "".join(output.get("text", "") for cell in code for output in cell.get("outputs", []))
    assert "C0000001.jpg" in printed and "score" in printed
