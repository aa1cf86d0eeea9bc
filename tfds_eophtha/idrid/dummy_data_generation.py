"""Writes dummy_data/: a small synthetic IDRiD segmentation download for the builder's tests.

    python -m tfds_eophtha.idrid.dummy_data_generation

Eight training and three test photographs in the download's folders, masks
as IDRiD ships them (palette TIFF, lesion index 1 red; the last test
photograph's exudate mask RGBA; uncompressed and LZW), one test photograph without microaneurysms
(no mask), and the folders a builder must ignore (haemorrhages, disease
grading).
"""

import pathlib
import shutil

import cv2
import numpy as np
from PIL import Image

from retina_tf.data import idrid, synthetic

DUMMY_DATA = pathlib.Path(__file__).parent / "dummy_data"
TRAINING, TESTING = 8, 3
_PALETTE = [0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6)


def write_mask(path: pathlib.Path, mask: np.ndarray, rgba: bool = False, compression: str | None = "tiff_lzw"):
    """A lesion mask as IDRiD encodes it: palette index 1 (red) on 0, or RGBA red on opaque black."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lesion = mask > 0
    if rgba:
        pixels = np.zeros((*mask.shape, 4), np.uint8)
        pixels[..., 0], pixels[..., 3] = lesion * 255, 255
        Image.fromarray(pixels, "RGBA").save(path, compression=compression)
        return
    image = Image.fromarray(lesion.astype(np.uint8), "P")
    image.putpalette(_PALETTE)
    image.save(path, compression=compression)


def write_download(root: pathlib.Path, training: int = TRAINING, testing: int = TESTING, seed: int = 2018,
                   size: tuple[int, int] = (288, 192)) -> list[pathlib.Path]:
    """A synthetic download under root/'A. Segmentation'; returns the photographs written."""
    rng = np.random.default_rng(seed)
    segmentation = root / idrid.SEGMENTATION
    written = []
    for number in range(1, training + testing + 1):
        part = idrid.PARTS["train" if number <= training else "test"]
        last = number == training + testing
        fundus = synthetic.render_fundus(rng, *size, exudates=True, microaneurysms=not last, cut_off=True)
        stem = f"IDRiD_{number:02d}"
        photograph = segmentation / idrid.PHOTOGRAPHS / part / f"{stem}.jpg"
        photograph.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(photograph), cv2.cvtColor(fundus.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        truths = segmentation / idrid.GROUND_TRUTHS / part
        write_mask(truths / "3. Hard Exudates" / f"{stem}_EX.tif", fundus.exudate_mask, rgba=last,
                   compression=None if number == 1 else "tiff_lzw")   # the download has both
        if not last:
            write_mask(truths / "1. Microaneurysms" / f"{stem}_MA.tif", fundus.microaneurysm_mask)
        write_mask(truths / "2. Haemorrhages" / f"{stem}_HE.tif", fundus.microaneurysm_mask)   # not read
        written.append(photograph)
    grading = root / "B. Disease Grading" / "1. Original Images" / "a. Training Set"
    grading.mkdir(parents=True, exist_ok=True)
    shutil.copy(written[0], grading / "IDRiD_001.jpg")   # another part of the download, not read
    return written


def main():
    shutil.rmtree(DUMMY_DATA, ignore_errors=True)
    written = write_download(DUMMY_DATA)
    print(f"wrote {len(written)} photographs to {DUMMY_DATA}")


if __name__ == "__main__":
    main()
