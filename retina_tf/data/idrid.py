"""Reading IDRiD's segmentation download: photographs, hard-exudate and microaneurysm masks, its split.

IDRiD (the ISBI 2018 challenge) ships 81 photographs of 4288x2848, split by
its authors into 54 training and 27 test photographs, each with one TIFF
mask per lesion type drawn on it. Masks are 1-bit palette TIFFs (index 1
red) except IDRiD_81_EX.tif, which is RGBA with an opaque alpha: in every
one the lesion is the red channel. Haemorrhages, soft exudates, the optic
disc and the download's other parts (B., C.) are not read. Every problem
found is collected so that one message lists them all.
"""

import dataclasses
import pathlib
import re

import cv2
import numpy as np

from retina_tf import ABSENT, ANNOTATED, LESION_CLASSES
from retina_tf.data import eophtha
from retina_tf.utils.errors import UserError

SEGMENTATION = "A. Segmentation"
PHOTOGRAPHS = "1. Original Images"
GROUND_TRUTHS = "2. All Segmentation Groundtruths"
PARTS = {"train": "a. Training Set", "test": "b. Testing Set"}   # the authors' split
LESION_FOLDERS = {"microaneurysm": ("1. Microaneurysms", "MA"), "exudate": ("3. Hard Exudates", "EX")}
_PHOTOGRAPH_NAME = re.compile(r"IDRiD_\d+$")
VALIDATION_EVERY = 6   # one training photograph in six, by rank of lesion count, is validation


@dataclasses.dataclass(frozen=True)
class Photograph:
    """One IDRiD photograph: where it is, which part of the authors' split, its masks."""

    part: str                               # "train" or "test"
    stem: str                               # IDRiD_01
    path: pathlib.Path
    masks: dict[str, pathlib.Path]          # lesion -> mask, for the types drawn on it
    lesion_count: int = 0                   # connected lesions as drawn, both types: the validation strata

    @property
    def number(self) -> int:
        """The number in its name: 1 for IDRiD_01."""
        return int(self.stem.rpartition("_")[2])

    @property
    def status(self) -> dict[str, str]:
        """IDRiD gives a type's mask only where the photograph has such lesions (as for soft exudates).

        Returns:
          lesion type -> ANNOTATED where a mask was found for it, else ABSENT (never UNKNOWN).
        """
        return {lesion: ANNOTATED if lesion in self.masks else ABSENT for lesion in LESION_CLASSES}


class IdridError(UserError, ValueError):
    """The IDRiD folder has problems; the message lists each, file by file.

    Args:
      root: the download's folder, named in the first line.
      problems: one line per problem, each naming its file or folder; kept as `problems`.
    """

    def __init__(self, root, problems):
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the IDRiD download at {root}:\n{listing}")


def segmentation_root(manual_dir: pathlib.Path | str) -> pathlib.Path:
    """The `A. Segmentation` folder: manual_dir itself, or the folder of that name inside it.

    Args:
      manual_dir: the unpacked download, or its `A. Segmentation` folder.

    Returns:
      The folder holding `1. Original Images`.

    Raises:
      IdridError: neither is such a folder.
    """
    manual_dir = pathlib.Path(manual_dir)
    for candidate in (manual_dir / SEGMENTATION, manual_dir):
        if (candidate / PHOTOGRAPHS).is_dir():
            return candidate
    raise IdridError(manual_dir, [
        f"no '{SEGMENTATION}/{PHOTOGRAPHS}' folder in {manual_dir}: point --manual-dir at the unpacked IDRiD "
        f"download (the folder holding '{SEGMENTATION}', or that folder itself)"])


def scan(manual_dir: pathlib.Path | str) -> list[Photograph]:
    """Every photograph of both parts, with its masks read and checked, sorted by number.

    Raises IdridError listing every problem: an empty or missing folder, a
    mask without its photograph, an unreadable file, a mask of another size.

    Args:
      manual_dir: the unpacked download, or its `A. Segmentation` folder.

    Returns:
      One Photograph per IDRiD_NN.jpg of the training and test parts, lesion_count filled in.

    Raises:
      IdridError: all the problems found, file by file (the masks are read to find them: this takes a while).
    """
    root = segmentation_root(manual_dir)
    problems, photographs = [], []
    for part, folder in PARTS.items():
        found, part_problems = _scan_part(root, part, folder)
        photographs.extend(found)
        problems.extend(part_problems)
    if problems:
        raise IdridError(root, problems)
    return sorted(photographs, key=lambda photograph: photograph.number)


def _scan_part(root: pathlib.Path, part: str, folder: str) -> tuple[list[Photograph], list[str]]:
    images = root / PHOTOGRAPHS / folder
    found = [path for path in sorted(images.glob("*")) if path.suffix.lower() in (".jpg", ".jpeg")]
    misnamed = {path: eophtha.misnamed(path) for path in found}
    problems = [problem for problem in misnamed.values() if problem]
    if not found:
        problems.append(f"{images}: no photograph (IDRiD_NN.jpg) found")
    paths = {path.stem: path for path in found if not misnamed[path]}
    problems += [f"{paths[stem]}: not an IDRiD photograph name (IDRiD_NN.jpg)"
                 for stem in paths if not _PHOTOGRAPH_NAME.match(stem)]
    masks: dict[str, dict[str, pathlib.Path]] = {}
    for lesion, (lesion_folder, suffix) in LESION_FOLDERS.items():
        mask_folder = root / GROUND_TRUTHS / folder / lesion_folder
        if not mask_folder.is_dir():
            problems.append(f"{mask_folder}: folder missing")
            continue
        for path in sorted(mask_folder.glob(f"*_{suffix}.tif")):
            if problem := eophtha.misnamed(path):
                problems.append(problem)
                continue
            stem = path.stem[:-len(suffix) - 1]
            if stem not in paths:
                problems.append(f"{path}: mask without its photograph {stem}.jpg in {images}")
                continue
            masks.setdefault(stem, {})[lesion] = path
    photographs = []
    for stem, path in paths.items():
        if not _PHOTOGRAPH_NAME.match(stem):
            continue
        photograph = Photograph(part=part, stem=stem, path=path, masks=masks.get(stem, {}))
        count, photograph_problems = _check(photograph)
        problems.extend(photograph_problems)
        photographs.append(dataclasses.replace(photograph, lesion_count=count))
    return photographs, problems


def read_mask(path: pathlib.Path) -> np.ndarray:
    """A lesion mask as bool, from its red channel (palette index 1 or RGBA red); ValueError naming the file.

    Args:
      path: one of IDRiD's .tif masks.

    Returns:
      H x W bool, True where the red channel is non-zero.

    Raises:
      ValueError: `<path>: ...` for a file that does not decode, or a red channel of more than two values.
    """
    mask = eophtha.decode_image_file(path, cv2.IMREAD_COLOR)
    if mask is None:
        raise ValueError(f"{path}: corrupt mask (not a readable TIFF)")
    red = mask[..., 2]
    if len(np.unique(red)) > 2:
        raise ValueError(f"{path}: mask is not binary; expected lesion in red on black")
    return red > 0


def _check(photograph: Photograph) -> tuple[int, list[str]]:
    """The lesions drawn on a photograph (both types), and the problems of its files."""
    masks, problems = eophtha.checked_masks(photograph.path, photograph.masks.values(), read_mask)
    return sum(cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1 for mask in masks), problems


def split_photographs(photographs: list[Photograph]) -> dict[str, list[Photograph]]:
    """IDRiD's own split, with a validation part taken from its training photographs.

    The training photographs are ranked by the lesions drawn on them (then by
    number) and every VALIDATION_EVERY-th from the middle of the first
    stratum goes to validation: a fixed rule that spreads validation over
    lightly and heavily affected eyes, and never looks at the test part.

    Args:
      photographs: from scan, with their lesion counts.

    Returns:
      {"train", "validation", "test"} -> photographs, each list sorted by number; test is the authors' test part.
    """
    training = sorted((p for p in photographs if p.part == "train"), key=lambda p: (p.lesion_count, p.number))
    middle = VALIDATION_EVERY // 2
    validation = [p for rank, p in enumerate(training) if rank % VALIDATION_EVERY == middle]
    splits = {"train": [p for p in training if p not in validation], "validation": validation,
              "test": [p for p in photographs if p.part == "test"]}
    return {name: sorted(items, key=lambda p: p.number) for name, items in splits.items()}
