"""Tests for the pictures: lesion outlines, normalisation sheets, dataset figures."""

import cv2
import numpy as np
import tensorflow_datasets as tfds

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.data import visualise
from retina_tf.testing import evaluation as testing
from tfds_eophtha import DUMMY_DATA


def test_draw_lesions_outlines_in_each_lesion_colour():
    image = np.full((64, 64, 3), 128, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 20:30] = True
    drawn = visualise.draw_lesions(image, [(20, 20, 30, 30), (40, 40, 44, 44)], ["exudate", "microaneurysm"],
                                   masks=[mask, np.zeros_like(mask)], scores=[0.9, 0.4])
    for name in ("exudate", "microaneurysm"):
        assert (drawn == visualise.LESION_COLOURS[name]).all(axis=-1).any(), name
    assert (drawn[0:5, 0:5] == 128).all()   # nothing drawn away from the lesions


def test_normalisation_sheets_show_photograph_and_normalised_side_by_side(tmp_path):
    sheets = visualise.normalisation_sheets(DUMMY_DATA["e_ophtha"], tmp_path, limit=2, output_size=256)
    assert len(sheets) == 2
    sheet = cv2.imread(str(sheets[0]))
    assert sheet.shape[0] == 512 and sheet.shape[1] > 512 + 256


def test_dataset_figure_outlines_lesions_of_e_ophtha(tmp_path):
    builder = tfds.builder("e_ophtha/paper_512", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA["e_ophtha"])))
    figure = visualise.dataset_figure(builder.as_dataset(split="train"), count=4, columns=2)
    assert len(figure.axes) == 4
    figure.savefig(tmp_path / "examples.png")
    assert (tmp_path / "examples.png").stat().st_size > 50_000


def _text_height(drawn: np.ndarray, blank: np.ndarray, colour) -> int:
    """Rows holding pixels of the colour that were not there before."""
    rows = np.flatnonzero(((drawn == colour).all(axis=-1) & ~(blank == colour).all(axis=-1)).any(axis=1))
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


def test_legend_and_score_labels_grow_with_the_photograph():
    heights = {}
    for width, height in ((1000, 664), (4288, 2848)):
        blank = np.full((height, width, 3), 40, np.uint8)
        legend = visualise.legend(blank, [("1 microaneurysm", visualise.LESION_COLOURS["microaneurysm"])])
        box = (height // 2, width // 2, height // 2 + 20, width // 2 + 20)
        scored = visualise.draw_lesions(blank, [box], ["exudate"], scores=[0.87])
        above = slice(0, box[0] - 1)   # the score's text, above the box
        heights[width] = (_text_height(legend, blank, (255, 255, 255)),
                          _text_height(scored[above], blank[above], visualise.LESION_COLOURS["exudate"]))
    small, large = heights[1000], heights[4288]
    assert small[0] >= 8 and small[1] >= 6, small
    for before, after in zip(small, large):   # 4.3 times the size, the strokes thicker too
        assert 3.5 * before <= after <= 6.5 * before, heights
    assert large[0] >= 40, heights            # readable on a 4288 px photograph shown whole on a screen


def test_counts_read_singular_for_one():
    assert [visualise.plural(n, "microaneurysm") for n in (0, 1, 2)] == [
        "0 microaneurysms", "1 microaneurysm", "2 microaneurysms"]


def test_a_result_sheet_draws_each_type_from_its_own_threshold():
    mask = np.zeros(testing.SHAPE, bool)
    mask[4:8, 4:8] = True
    result = testing.photograph(predictions=[(EXUDATE, mask, 0.5), (MICROANEURYSM, np.roll(mask, 10, axis=1), 0.5)])
    image = np.full((*testing.SHAPE, 3), 128, np.uint8)
    both = visualise.result_sheet(image, result, min_score=0.4)
    exudates_only = visualise.result_sheet(image, result, min_score={"exudate": 0.4, "microaneurysm": 0.6})
    found = both[:, both.shape[1] // 2:], exudates_only[:, exudates_only.shape[1] // 2:]
    cyan = visualise.LESION_COLOURS["microaneurysm"]
    assert (found[0] == cyan).all(axis=-1).sum() > (found[1] == cyan).all(axis=-1).sum()
