"""notebooks/explore_e_ophtha.ipynb runs top to bottom on the synthetic e_ophtha and IDRiD dummy data, a tiny export."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from retina_tf.conftest import exported  # noqa: F401  the tiny export, a fixture of the library's tests
from tfds_eophtha import DUMMY_DATA

# A Jupyter kernel running every cell on both datasets: minutes on 2 cores.
pytestmark = pytest.mark.slow

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "explore_e_ophtha.ipynb"


def _outputs(cell, mime: str) -> list[str]:
    return [output["data"][mime] for output in cell.get("outputs", []) if mime in output.get("data", {})]


@pytest.mark.parametrize("dataset, photographs, first", [("e_ophtha/patients_512", 2, "C0000001.jpg"),
                                                         ("idrid/lesions_512", 3, "IDRiD_09.jpg")])
def test_the_notebook_runs_top_to_bottom(dataset, photographs, first, eophtha_data_dir, exported, monkeypatch,  # noqa: F811
                                         tmp_path):
    """The tiny export (trained at 512 px on e_ophtha) scores the IDRiD dummy data too: the same features."""
    name = dataset.partition("/")[0]
    data_dir = eophtha_data_dir if name == "e_ophtha" else tmp_path / "tensorflow_datasets"   # idrid: built here
    for variable, value in {"DATA_DIR": data_dir, "DATASET": dataset, "MANUAL_DIR": DUMMY_DATA[name],
                            "SAVED_MODEL": exported.export_base / "retina", "SPLIT": "test"}.items():
        monkeypatch.setenv(f"RETINA_TF_{variable}", str(value))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Fails with the cell's traceback when a cell raises; run outside the checkout.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    pictures = sum(len(_outputs(cell, "image/png")) for cell in code)
    assert pictures == 3, "dataset figure, overlay on the photograph, result sheet"
    (table,) = [text for cell in code for text in _outputs(cell, "text/markdown")]
    assert "Paper's mAP" in table and f"Photographs: {photographs}" in table and "Pixel AUPR" in table
    printed = "".join(output.get("text", "") for cell in code for output in cell.get("outputs", []))
    assert first in printed and "score" in printed
