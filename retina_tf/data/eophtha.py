"""Reading an unpacked e-ophtha tree: photographs, masks, what is known about each.

e-ophtha comes as two sets, EX (exudates) and MA (microaneurysms), each with
lesion photographs, their masks and healthy photographs. A photograph found in
both sets is one photograph with two annotations; for each lesion type we know
whether it was annotated (a mask), is known absent (the set's healthy folder)
or is unknown (the photograph is not in that set). Every problem found is
collected so that one message lists them all.
"""

import dataclasses
import os
import pathlib
import random

import cv2
import numpy as np
import tensorflow as tf

from retina_tf import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.data import fundus
from retina_tf.utils.errors import UserError, describe

_PHOTOGRAPH_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclasses.dataclass(frozen=True)
class LesionSet:
    """Where one e-ophtha set keeps its files."""

    lesion: str             # "exudate" or "microaneurysm"
    root: str               # e_optha_EX
    lesion_folder: str      # EX
    annotation_folder: str  # Annotation_EX
    mask_suffix: str        # "_EX" (EX masks are <stem>_EX.png, MA masks <stem>.png)


EXUDATE_SET = LesionSet("exudate", "e_optha_EX", "EX", "Annotation_EX", "_EX")
MICROANEURYSM_SET = LesionSet("microaneurysm", "e_optha_MA", "MA", "Annotation_MA", "")
LESION_SETS = (EXUDATE_SET, MICROANEURYSM_SET)


@dataclasses.dataclass(frozen=True)
class Photograph:
    """One fundus photograph of e-ophtha with all that both sets say about it."""

    patient: str
    stem: str
    path: pathlib.Path                        # the photograph (EX set's copy when in both)
    masks: dict[str, pathlib.Path]            # lesion -> mask path, for annotated lesions
    status: dict[str, str]                    # lesion -> ANNOTATED | ABSENT | UNKNOWN

    @property
    def key(self) -> str:
        """`<patient>/<stem>`: unique across both sets, the dataset's example key."""
        return f"{self.patient}/{self.stem}"

    @property
    def has_lesions(self) -> bool:
        """True when either set has a mask for it (a lesion photograph rather than a healthy one)."""
        return bool(self.masks)


class EophthaError(UserError, ValueError):
    """The e-ophtha tree has problems; the message lists each, file by file.

    Args:
      root: the tree's folder, named in the first line.
      problems: one line per problem, each naming its file or folder; kept as `problems`.
    """

    def __init__(self, root, problems):
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the e-ophtha tree at {root}:\n{listing}")


def misnamed(path: pathlib.Path) -> str | None:
    """The problem line of a file whose name is not valid UTF-8 (an archive unpacked on another system), else
    None: example keys and messages are text, and OpenCV crashes on such a name."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return f"{os.fsencode(path).decode('utf-8', 'backslashreplace')}: file name is not valid UTF-8; rename it"
    return None


def decode_image_file(path: pathlib.Path, flags: int) -> np.ndarray | None:
    """cv2.imdecode of the file's bytes (None if they do not decode): the one way masks are read, since
    cv2.imread takes the name as text."""
    data = np.frombuffer(path.read_bytes(), np.uint8)
    return cv2.imdecode(data, flags) if data.size else None


def _files(folder: pathlib.Path) -> tuple[dict[tuple[str, str], pathlib.Path], list[str]]:
    """(patient, stem) -> file, for image files one folder deep (Thumbs.db and the like are skipped), and the
    problems of their names."""
    found, problems = {}, []
    if folder.is_dir():
        for path in sorted(folder.glob("*/*")):
            if path.is_file() and path.suffix.lower() in _PHOTOGRAPH_SUFFIXES:
                if problem := misnamed(path):
                    problems.append(problem)
                else:
                    found[(path.parent.name, path.stem)] = path
    return found, problems


def scan(root: pathlib.Path | str, check_files: bool = True,
         extra_roots: tuple[pathlib.Path, ...] = ()) -> list["Photograph"]:
    """All photographs under root (which holds e_optha_EX and/or e_optha_MA), sorted by key.

    extra_roots are searched for a set that root lacks (zip archives extracted
    elsewhere). With check_files, every photograph and mask is decoded and
    checked (corrupt JPEG, size mismatch, non-binary or empty mask); all
    problems are raised together as one EophthaError.

    Args:
      root: the folder holding e_optha_EX/ and/or e_optha_MA/.
      check_files: decode every file (the whole tree is read); False trusts the folder layout alone.
      extra_roots: further folders, searched in order, for a set that root lacks.

    Returns:
      One Photograph per (patient, stem) found in either set, with a status for both lesion types.

    Raises:
      EophthaError: neither set found; a folder missing; a mask without its photograph or a lesion photograph
        without its mask; a photograph both lesion and healthy; a badly named mask; no photograph at all; or,
        with check_files, an unreadable photograph or a bad mask. All are listed in one message.
    """
    root = pathlib.Path(root)
    set_roots = _set_roots(root, extra_roots)
    problems = []
    found = _Found()
    for lesion_set, base in set_roots.items():
        problems.extend(_read_set(lesion_set, base, found))
    photographs = [
        Photograph(patient=key[0], stem=key[1], path=found.paths[key], masks=found.masks.get(key, {}),
                   status={lesion_set.lesion: found.status[key].get(lesion_set.lesion, UNKNOWN)
                           for lesion_set in LESION_SETS})
        for key in sorted(found.paths)]
    if check_files:
        for photograph in photographs:
            problems.extend(check_photograph(photograph))
    if not photographs and not problems:
        problems.append(f"{root}: no photograph found")
    if problems:
        raise EophthaError(root, problems)
    return photographs


def _set_roots(root: pathlib.Path, extra_roots) -> dict[LesionSet, pathlib.Path]:
    """Where each present set's folder is: in root, or else in the first extra root that has it."""
    set_roots = {}
    for lesion_set in LESION_SETS:
        for candidate in (root, *map(pathlib.Path, extra_roots)):
            if (candidate / lesion_set.root).is_dir():
                set_roots[lesion_set] = candidate / lesion_set.root
                break
    if not set_roots:
        raise EophthaError(root, [
            f"neither e_optha_EX/ nor e_optha_MA/ found in {root} (expected e_optha_EX/{{EX,healthy,Annotation_EX}}/"
            "<patient>/<photograph> and e_optha_MA/{MA,healthy,Annotation_MA}/<patient>/<photograph>, "
            "or the two zip archives)"])
    return set_roots


@dataclasses.dataclass
class _Found:
    """What the sets say about each (patient, stem): its file, its masks, each lesion type's status."""

    paths: dict = dataclasses.field(default_factory=dict)
    masks: dict = dataclasses.field(default_factory=dict)
    status: dict = dataclasses.field(default_factory=dict)

    def add(self, key, path: pathlib.Path, lesion: str, status: str, mask: pathlib.Path | None = None):
        self.paths.setdefault(key, path)
        self.status.setdefault(key, {})[lesion] = status
        if mask is not None:
            self.masks.setdefault(key, {})[lesion] = mask


def _read_set(lesion_set: LesionSet, base: pathlib.Path, found: _Found) -> list[str]:
    """Adds one set's lesion and healthy photographs to found; returns the problems it has."""
    problems = [f"{base / folder}: folder missing"                      # healthy/ is optional
                for folder in (lesion_set.lesion_folder, lesion_set.annotation_folder)
                if not (base / folder).is_dir()]
    (lesion_photos, lesion_problems), (healthy_photos, healthy_problems), (masks, mask_problems) = (
        _files(base / folder) for folder in (lesion_set.lesion_folder, "healthy", lesion_set.annotation_folder))
    problems += lesion_problems + healthy_problems + mask_problems
    annotations = {}
    for (patient, stem), path in masks.items():
        if lesion_set.mask_suffix and not stem.endswith(lesion_set.mask_suffix):
            problems.append(f"{path}: mask name should end in {lesion_set.mask_suffix}.png")
            continue
        annotations[(patient, stem[:len(stem) - len(lesion_set.mask_suffix)])] = path
    for key, path in annotations.items():
        if key not in lesion_photos:
            problems.append(f"{path}: mask without its photograph in {base / lesion_set.lesion_folder / key[0]}")
    for key, path in lesion_photos.items():
        if key not in annotations:
            folder = base / lesion_set.annotation_folder / key[0]
            problems.append(f"{path}: photograph without its mask in {folder}")
            continue
        if key in healthy_photos:
            problems.append(f"{path}: also in {healthy_photos[key].parent}, both lesion and healthy")
        found.add(key, path, lesion_set.lesion, ANNOTATED, annotations[key])
    for key, path in healthy_photos.items():
        if key not in lesion_photos:
            found.add(key, path, lesion_set.lesion, ABSENT)
    return problems


def read_photograph(path: pathlib.Path) -> np.ndarray:
    """RGB uint8, decoded as the exported model decodes; ValueError naming the file otherwise.

    Args:
      path: a JPEG or PNG file.

    Returns:
      H x W x 3 uint8 RGB at the file's own size (a PNG's alpha channel dropped).

    Raises:
      ValueError: `<path>: unreadable photograph: <reason>`, for a file that cannot be read, is not a JPEG or
        PNG, is grayscale, or has a side under fundus.MIN_SIDE or over 8192 pixels.
    """
    try:
        return fundus.decode_fundus(tf.constant(path.read_bytes())).numpy()
    except (tf.errors.InvalidArgumentError, OSError) as error:
        raise ValueError(f"{path}: unreadable photograph: {describe(error)}") from None


def read_mask(path: pathlib.Path) -> np.ndarray:
    """The lesion mask as bool; raises ValueError naming the file unless it is binary and non-empty.

    Args:
      path: an image file, lesion pixels non-zero; a colour file must be grey (its three channels equal).

    Returns:
      H x W bool, True on lesion pixels.

    Raises:
      ValueError: `<path>: ...` for an unreadable file, a coloured mask, more than two values (or two, neither
        of them 0), or no lesion pixel.
    """
    mask = decode_image_file(path, cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"{path}: corrupt mask (not a readable image)")
    if mask.ndim == 3:
        if not (mask[..., :3] == mask[..., :1]).all():
            raise ValueError(f"{path}: mask is in colour; expected a black and white lesion mask")
        mask = mask[..., 0]
    values = np.unique(mask)
    if len(values) > 2 or values[0] != 0 and len(values) == 2:
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise ValueError(f"{path}: mask is not binary (values {shown}); expected 0 and 255")
    if values[-1] == 0:
        raise ValueError(f"{path}: mask is empty (no lesion pixel) in a lesion folder")
    return mask > 0


def check_photograph(photograph: Photograph) -> list[str]:
    """Problems with one photograph's files, as lines naming each file.

    Args:
      photograph: its photograph and mask files.

    Returns:
      One line per problem (unreadable photograph, bad mask, mask of another size); empty when all is well.
    """
    return checked_masks(photograph.path, photograph.masks.values(), read_mask)[1]


def checked_masks(photograph: pathlib.Path, masks, read=read_mask) -> tuple[list[np.ndarray], list[str]]:
    """The masks of a photograph that read and fit its size, and the problems of its files as lines naming each.

    Args:
      photograph: the photograph's file.
      masks: its mask files.
      read: reads one mask file as bool, raising ValueError that names the file.

    Returns:
      The masks that are good, and one line per problem (none readable if the photograph is not).
    """
    try:
        height, width = read_photograph(photograph).shape[:2]
    except ValueError as error:
        return [], [str(error)]
    good, problems = [], []
    for path in masks:
        try:
            mask = read(path)
        except ValueError as error:
            problems.append(str(error))
            continue
        if mask.shape != (height, width):
            problems.append(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its photograph "
                            f"{photograph.name} is {width}x{height}")
            continue
        good.append(mask)
    return good, problems


# Split schemes. The paper shuffled its 195 lesion photographs into 155/20/20.
PAPER_FRACTIONS = (155 / 195, 20 / 195, 20 / 195)
SPLITS = ("train", "validation", "test")


def split_photographs(photographs: list[Photograph], by_patient: bool, seed: int = 0,
                      fractions: tuple[float, float, float] = PAPER_FRACTIONS) -> dict[str, list[Photograph]]:
    """Seeded train/validation/test split; by_patient keeps each patient's photographs together.

    Split sizes follow the paper's 155:20:20 proportions. Patient groups go,
    largest first, to the split furthest below its target relative to that
    target, so sizes come as near the paper's as whole patients allow and no
    split is left empty while there are groups enough.

    Args:
      photographs: those to split, from scan.
      by_patient: group by patient (no patient in two splits); False groups each photograph alone.
      seed: orders the groups of one size before they are dealt; the same seed gives the same split.
      fractions: train, validation and test shares of the photographs; the validation and test targets are
        rounded from them and train takes the rest.

    Returns:
      {"train", "validation", "test"} -> photographs, each list sorted by key.
    """
    groups: dict[str, list[Photograph]] = {}
    for photograph in photographs:
        groups.setdefault(photograph.patient if by_patient else photograph.key, []).append(photograph)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    total = len(photographs)
    targets = [round(fraction * total) for fraction in fractions[1:]]
    targets.insert(0, total - sum(targets))
    keys.sort(key=lambda key: -len(groups[key]))   # stable: shuffled order within a size
    splits: dict[str, list[Photograph]] = {name: [] for name in SPLITS}
    for key in keys:
        deficits = [(target - len(splits[name])) / max(target, 1) for name, target in zip(SPLITS, targets)]
        name = SPLITS[int(np.argmax(deficits))]
        splits[name].extend(groups[key])
    return {name: sorted(items, key=lambda p: p.key) for name, items in splits.items()}
