"""Tests for the pictures: lesion outlines, normalisation sheets, dataset figures."""

import cv2
import numpy as np
import tensorflow_datasets as tfds

from retina_tf.data import visualise
from retina_tf.datasets import DUMMY_DATA


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
    sheets = visualise.normalisation_sheets(DUMMY_DATA, tmp_path, limit=2, output_size=256)
    assert len(sheets) == 2
    sheet = cv2.imread(str(sheets[0]))
    assert sheet.shape[0] == 512 and sheet.shape[1] > 512 + 256


def test_dataset_figure_outlines_lesions_of_e_ophtha(tmp_path):
    builder = tfds.builder("e_ophtha/paper_512", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA)))
    figure = visualise.dataset_figure(builder.as_dataset(split="train"), count=4, columns=2)
    assert len(figure.axes) == 4
    figure.savefig(tmp_path / "examples.png")
    assert (tmp_path / "examples.png").stat().st_size > 50_000
