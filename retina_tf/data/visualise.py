"""Pictures people look at: lesion outlines on photographs, side-by-side sheets."""

import os
import pathlib

import cv2
import numpy as np
import tensorflow as tf
from etils import epath
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from pycocotools import mask as mask_util

from retina_tf import LESION_CLASSES
from retina_tf.data import eophtha, fundus, instance_masks
from retina_tf.utils import storage

# RGB outline colours per lesion type; chosen to stand out on both the orange
# photograph and the grey normalised image.
LESION_COLOURS = {"exudate": (255, 235, 0), "microaneurysm": (0, 230, 255)}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def drawing_scale(shape) -> float:
    """How much larger than at 1000 px lines, text and legend are drawn, so that they read the same on a
    photograph of any size seen whole: 1 up to 1000 px, 4.3 on a 4288x2848 photograph.

    Args:
      shape: the image's shape, (height, width, ...).

    Returns:
      The longer side / 1000, at least 1.
    """
    return max(1.0, max(shape[:2]) / 1000)


def outline(image: np.ndarray, mask: np.ndarray, colour, thickness: int = 1) -> np.ndarray:
    """Draws the mask's outlines on a copy of an RGB image.

    Args:
      image: H x W x 3 uint8 RGB.
      mask: H x W, lesion pixels True or 1; only outer contours are drawn (holes are not).
      colour: (r, g, b), 0-255.
      thickness: line width in pixels.

    Returns:
      The copy, H x W x 3 uint8.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    drawn = np.ascontiguousarray(image.copy())
    cv2.drawContours(drawn, contours, -1, tuple(int(c) for c in colour), thickness, lineType=cv2.LINE_AA)
    return drawn


def draw_lesions(image: np.ndarray, boxes, labels, masks=None, scores=None) -> np.ndarray:
    """Boxes (ymin, xmin, ymax, xmax pixels), mask outlines and scores, coloured by lesion type, at the
    image's drawing_scale.

    labels are lesion names; masks, when given, are full-size boolean masks.

    Args:
      image: H x W x 3 uint8 RGB.
      boxes: [N, 4] in pixels of image, end exclusive.
      labels: N names from LESION_CLASSES.
      masks: [N, H, W] bool, or None for boxes alone.
      scores: N scores written above the boxes, or None for none.

    Returns:
      A copy of image, H x W x 3 uint8.
    """
    scale = drawing_scale(image.shape)
    thickness = round(scale)
    drawn = np.ascontiguousarray(image.copy())
    for index, (box, label) in enumerate(zip(boxes, labels)):
        colour = tuple(int(c) for c in LESION_COLOURS[label])
        ymin, xmin, ymax, xmax = (int(round(float(v))) for v in box)
        cv2.rectangle(drawn, (xmin, ymin), (xmax - 1, ymax - 1), colour, thickness)
        if masks is not None:
            drawn = outline(drawn, masks[index], colour, thickness)
        if scores is not None:
            cv2.putText(drawn, f"{float(scores[index]):.2f}", (xmin, max(ymin - round(3 * scale), round(10 * scale))),
                        FONT, 0.4 * scale, colour, thickness, cv2.LINE_AA)
    return drawn


def lesion_overlay(image: np.ndarray, found) -> np.ndarray:
    """A photograph with each lesion reported on it (a serving PhotographLesions: at or above its type's
    threshold) outlined, boxed and scored in its type's colour, and a legend counting each type with its
    threshold (as the paper's Figure 3). The weaker lesions stay in the record, not on the picture.

    Args:
      image: the photograph, H x W x 3 uint8 RGB at the size `found` describes.
      found: its lesions, boxes and masks in pixels of the photograph.

    Returns:
      A copy of image, H x W x 3 uint8.
    """
    shown = [index for index, lesion in enumerate(found.lesions) if lesion.reported]
    lesions = [found.lesions[index] for index in shown]
    drawn = draw_lesions(image, [lesion.box for lesion in lesions], [lesion.type for lesion in lesions],
                         found.masks[shown], [lesion.score for lesion in lesions])
    thresholds = found.operating_point.thresholds
    return legend(drawn, [(f"{text} (score >= {thresholds[lesion_type]:.4g})", LESION_COLOURS[lesion_type])
                          for lesion_type, text in found.count_texts().items()])


def result_sheet(image: np.ndarray, result, min_score: float | dict[str, float] | None = None) -> np.ndarray:
    """Annotated lesions outlined (left) | lesions found, boxed and scored (right), each side with a legend
    counting them; image is the photograph at the resolution of the PhotographResult. min_score keeps the
    lesions found at or above it: one score, or one per lesion type (an export's operating point).

    Args:
      image: H x W x 3 uint8 RGB, H x W the result's height and width.
      result: an evaluation PhotographResult (RLE masks at H x W).
      min_score: a score for all types, lesion type -> score, or None to show every lesion found.

    Returns:
      H x (2 W + gap) x 3 uint8, the two sides with a black gap of 8 px at drawing_scale between them.
    """
    truth, found = result.ground_truth, result.predictions
    thresholds = min_score if isinstance(min_score, dict) or min_score is None else dict.fromkeys(
        LESION_CLASSES, min_score)
    if thresholds is not None:
        minimum = np.array([thresholds[LESION_CLASSES[label - 1]] for label in found.labels], float)
        found = found.select(found.scores >= minimum)
    annotated = image
    for label, name in enumerate(LESION_CLASSES, start=1):
        masks = [mask_util.decode(rle) for rle, own in zip(truth.masks, truth.labels) if own == label]
        if masks:
            annotated = outline(annotated, np.any(masks, axis=0), LESION_COLOURS[name],
                                round(drawing_scale(image.shape)))
    drawn = draw_lesions(image, found.boxes, [LESION_CLASSES[label - 1] for label in found.labels],
                         [mask_util.decode(rle) for rle in found.masks], found.scores)
    return np.concatenate([
        legend(annotated, [(f"{name}: {int((truth.labels == label).sum())} annotated", LESION_COLOURS[name])
                           for label, name in enumerate(LESION_CLASSES, start=1)]),
        np.zeros((image.shape[0], round(8 * drawing_scale(image.shape)), 3), np.uint8),
        legend(drawn, [(f"{name}: {int((found.labels == label).sum())} found"
                        + ("" if thresholds is None else f" at {thresholds[name]:.3g}"), LESION_COLOURS[name])
                       for label, name in enumerate(LESION_CLASSES, start=1)])], axis=1)


def plural(count: int, noun: str) -> str:
    """"1 microaneurysm", "3 exudates".

    Args:
      count: how many.
      noun: the singular; an "s" is added unless count is 1.

    Returns:
      The count and the noun.
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def dataset_figure(dataset, count: int = 6, columns: int = 3):
    """A matplotlib figure of e_ophtha examples with their lesions outlined (TFDS's show_examples draws no boxes).

    Args:
      dataset: a tf.data.Dataset of a retina-tf dataset's examples as TFDS gives them (unbatched dicts).
      count: the examples drawn, the first ones.
      columns: subplots per row.

    Returns:
      A matplotlib Figure, 4 inches a subplot, with a legend of the lesion colours.
    """
    examples = list(dataset.take(count))
    rows = max(1, -(-len(examples) // columns))
    figure = Figure(figsize=(4 * columns, 4 * rows))
    for index, example in enumerate(examples):
        image = example["image"].numpy()
        objects = example["objects"]
        size = image.shape[0]
        boxes = instance_masks.pixel_boxes(objects["bbox"], size).numpy()
        masks = instance_masks.paste_masks(objects["mask"], objects["bbox"], size).numpy()
        labels = [LESION_CLASSES[int(label)] for label in objects["label"].numpy()]
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(draw_lesions(image, boxes, labels, masks))
        axes.set_title(f"{example['image/filename'].numpy().decode()} ({plural(len(labels), 'lesion')})", fontsize=7)
        axes.axis("off")
    handles = [Patch(color=np.array(colour) / 255, label=name) for name, colour in LESION_COLOURS.items()]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles))
    return figure


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """The image resized to `height` pixels high, its aspect ratio kept (area interpolation).

    Args:
      image: H x W (x C).
      height: pixels.

    Returns:
      height x round(W * height / H) (x C), of the image's dtype; at least one pixel wide.
    """
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def legend(image: np.ndarray, entries: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    """A legend box (text with a colour swatch per entry) in the top-left corner, at the image's drawing_scale.

    Args:
      image: H x W x 3 uint8 RGB.
      entries: (text, (r, g, b)) per line, top to bottom.

    Returns:
      A copy of image, H x W x 3 uint8.
    """
    scale = drawing_scale(image.shape)
    font_scale, thickness = 0.5 * scale, round(scale)
    x = y = pad = round(8 * scale)
    row, swatch = round(22 * scale), round(14 * scale)
    drawn = np.ascontiguousarray(image.copy())
    text_width = max((cv2.getTextSize(text, FONT, font_scale, thickness)[0][0] for text, _ in entries), default=0)
    cv2.rectangle(drawn, (x, y), (x + 3 * pad + swatch + text_width + pad, y + row * len(entries) + pad),
                  (0, 0, 0), -1)
    for index, (text, colour) in enumerate(entries):
        top = y + pad + row * index
        cv2.rectangle(drawn, (x + pad, top), (x + pad + swatch, top + swatch), tuple(int(c) for c in colour), -1)
        cv2.putText(drawn, text, (x + 2 * pad + swatch, top + swatch - round(2 * scale)), FONT, font_scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return drawn


def write_png(path: str | os.PathLike, image: np.ndarray) -> epath.Path:
    """An RGB image as PNG, locally or in a bucket.

    Args:
      path: the file; its parent folders are created.
      image: H x W x 3 uint8 RGB.

    Returns:
      The path written.

    Raises:
      ValueError: OpenCV cannot encode the image.
    """
    path = storage.path(path)
    encoded, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not encoded:
        raise ValueError(f"{path}: OpenCV cannot encode an image of shape {image.shape} as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return path


def normalisation_sheets(tree: pathlib.Path, out: pathlib.Path, limit: int = 4, output_size: int = 1024
                         ) -> list[pathlib.Path]:
    """For lesion photographs of an e-ophtha tree: original | normalised, annotations outlined on both.

    Args:
      tree: an e-ophtha tree (eophtha.scan; files are not checked first).
      out: the folder for <patient>_<stem>.png, created when missing.
      limit: at most this many photographs, the first lesion photographs by key.
      output_size: the side S of the normalised image, in pixels.

    Returns:
      The sheets written, each 512 px high: the photograph and the normalised image side by side.

    Raises:
      EophthaError: the tree's layout has problems.
      ValueError: a photograph or a mask cannot be read.
    """
    config = fundus.FundusNormalisation(output_size=output_size)
    normalise = fundus.photograph_normaliser(config)
    photographs = [p for p in eophtha.scan(tree, check_files=False) if p.has_lesions][:limit]
    sheets = []
    for photograph in photographs:
        image = eophtha.read_photograph(photograph.path)
        normalised, geometry = normalise(tf.constant(image))
        normalised = normalised.numpy()
        entries = []
        for lesion, path in photograph.masks.items():
            mask = eophtha.read_mask(path)
            small = fundus.normalise_lesion_mask(tf.constant(mask), geometry, output_size).numpy()
            colour = LESION_COLOURS[lesion]
            image = outline(image, mask, colour, thickness=2)
            normalised = outline(normalised, small, colour)
            entries.append((f"{lesion} (annotated)", colour))
        height = 512
        sheet = np.concatenate([fit_height(image, height), np.zeros((height, 8, 3), np.uint8),
                                fit_height(normalised, height)], axis=1)
        sheets.append(write_png(out / f"{photograph.patient}_{photograph.stem}.png", legend(sheet, entries)))
    return sheets
