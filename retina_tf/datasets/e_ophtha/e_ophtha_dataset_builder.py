"""e-ophtha EX and MA, normalised as in the seed paper, with one mask per lesion."""

import dataclasses
import io
import pathlib

import cv2
import numpy as np
import tensorflow as tf
import tensorflow_datasets.public_api as tfds

from retina_tf import LESION_CLASSES, STATUSES
from retina_tf.data import eophtha, fundus, lesions
from retina_tf.errors import UserError

_HOMEPAGE = "https://www.adcis.net/en/third-party/e-ophtha/"

_MANUAL_DOWNLOAD_INSTRUCTIONS = """\
e-ophtha cannot be downloaded by code. Request it from ADCIS
(https://www.adcis.net/en/third-party/e-ophtha/, registration form), then put
in `manual_dir` either the two archives as distributed:

    manual_dir/e_optha_EX.zip
    manual_dir/e_optha_MA.zip

or the two unpacked folders:

    manual_dir/e_optha_EX/{EX,healthy,Annotation_EX}/<patient>/<photograph>
    manual_dir/e_optha_MA/{MA,healthy,Annotation_MA}/<patient>/<photograph>

Exudate masks are <stem>_EX.png, microaneurysm masks <stem>.png. Either set
alone also builds (the other lesion type is then unknown on every photograph).
"""


@dataclasses.dataclass(eq=False)
class EophthaConfig(tfds.core.BuilderConfig):
    """Which photographs, how they are split, and at what size."""

    # "patient": no patient in two splits; "photograph": the paper's shuffle; "none": every photograph in train
    split_by: str = "patient"
    include_healthy: bool = False    # add the healthy folders' photographs as negatives
    image_size: int = 1024
    seed: int = 0
    dilation: lesions.Dilation = dataclasses.field(default_factory=lesions.Dilation)


def _config(name, split_by, include_healthy, image_size, description):
    return EophthaConfig(name=name, split_by=split_by, include_healthy=include_healthy,
                         image_size=image_size, description=description)


_PAPER = ("the paper's split: the lesion photographs shuffled (seed 0) into train/validation/test "
          "in the proportions 155/20/20; photographs of one patient may land in different splits")
_PATIENTS = ("lesion photographs split by patient (seed 0), sizes as near 155/20/20 as whole "
             "patients allow: no patient in two splits")
_HEALTHY = ("lesion and healthy photographs split by patient, for specificity and screening figures")
_ALL_TRAIN = ("every lesion photograph in train, no validation or test split: a handful of photographs "
              "(fitting checks such as benchmarks/learn_real.py) or your own cross-validation folds")

BUILDER_CONFIGS = [
    _config("patients_1024", "patient", False, 1024, _PATIENTS + "; 1024x1024 (default)"),
    _config("paper_1024", "photograph", False, 1024, _PAPER + "; 1024x1024"),
    _config("patients_with_healthy_1024", "patient", True, 1024, _HEALTHY + "; 1024x1024"),
    _config("patients_512", "patient", False, 512, _PATIENTS + "; 512x512 for fast experiments"),
    _config("paper_512", "photograph", False, 512, _PAPER + "; 512x512 for fast experiments"),
    _config("patients_with_healthy_512", "patient", True, 512, _HEALTHY + "; 512x512 for fast experiments"),
    _config("all_train_1024", "none", False, 1024, _ALL_TRAIN + "; 1024x1024"),
    _config("all_train_512", "none", False, 512, _ALL_TRAIN + "; 512x512"),
]


class Builder(tfds.core.GeneratorBasedBuilder):
    """e-ophtha EX and MA: normalised fundus photographs with exudate and microaneurysm instances."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = BUILDER_CONFIGS
    DEFAULT_BUILDER_CONFIG_NAME = "patients_1024"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        status = tfds.features.ClassLabel(names=STATUSES)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png",
                                             doc="normalised fundus photograph (lossless)"),
                "image/id": tfds.features.Scalar(np.int64, doc="numeric id, stable across configs"),
                "image/filename": tfds.features.Text(doc="photograph path inside e-ophtha"),
                "patient": tfds.features.Text(),
                "original_size": tfds.features.Tensor(shape=(2,), dtype=np.int32, doc="height, width"),
                "geometry": tfds.features.Tensor(
                    shape=(6,), dtype=np.float32,
                    doc="eye box y0, x0, y1, x1 in original pixels, then height, width: "
                        "retina_tf.data.fundus maps boxes and masks back to the original photograph"),
                "annotation": tfds.features.FeaturesDict(
                    {lesion: status for lesion in LESION_CLASSES},
                    doc="per lesion type: annotated (mask), absent (healthy folder) or unknown"),
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(names=LESION_CLASSES),
                    "area": tfds.features.Scalar(np.int64, doc="lesion pixels"),
                    "is_crowd": tfds.features.Scalar(np.bool_),
                    "mask": tfds.features.Tensor(
                        shape=(), dtype=np.object_,
                        doc="PNG (0 background, 255 lesion) of the lesion's mask cropped to its box, bbox * image "
                            "size in pixels; retina_tf.data.instance_masks.paste_masks makes full-size masks"),
                }),
            }),
            homepage=_HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        extracted = []
        for lesion_set in eophtha.LESION_SETS:
            archive = manual_dir / f"{lesion_set.root}.zip"
            if not (manual_dir / lesion_set.root).is_dir() and archive.exists():
                extracted.append(dl_manager.extract(archive))
        every = eophtha.scan(manual_dir, check_files=True, extra_roots=tuple(extracted))
        ids = {photograph.key: index for index, photograph in enumerate(every, start=1)}
        config = self.builder_config
        chosen = [p for p in every if p.has_lesions or config.include_healthy]
        if config.split_by == "none":
            if not chosen:
                raise UserError(f"{manual_dir}: no lesion photographs for config {config.name}")
            return {"train": self._generate_examples(chosen, ids, manual_dir)}
        splits = eophtha.split_photographs(chosen, by_patient=config.split_by == "patient", seed=config.seed)
        empty = [name for name, photographs in splits.items() if not photographs]
        if empty:
            raise UserError(f"{manual_dir}: {len(chosen)} photographs for config {config.name} are too few to "
                            f"fill train, validation and test ({', '.join(empty)} would be empty)")
        return {name: self._generate_examples(photographs, ids, manual_dir)
                for name, photographs in splits.items()}

    def _generate_examples(self, photographs, ids, manual_dir):
        config = self.builder_config
        normalisation = fundus.FundusNormalisation(output_size=config.image_size)
        normalise = fundus.photograph_normaliser(normalisation)
        for photograph in photographs:
            image, geometry = normalise(tf.constant(eophtha.read_photograph(photograph.path)))
            objects = []
            for label, lesion in enumerate(LESION_CLASSES):
                if lesion in photograph.masks:
                    mask = fundus.normalise_lesion_mask(
                        tf.constant(eophtha.read_mask(photograph.masks[lesion])), geometry, config.image_size)
                    objects.extend(_objects(mask.numpy(), label, config))
            yield photograph.key, {
                "image": io.BytesIO(_png(image.numpy())),
                "image/id": ids[photograph.key],
                "image/filename": _relative(photograph.path, manual_dir),
                "patient": photograph.patient,
                "original_size": geometry.numpy()[4:].astype(np.int32),
                "geometry": geometry.numpy(),
                "annotation": dict(photograph.status),
                "objects": objects,
            }


def _objects(mask: np.ndarray, label: int, config: EophthaConfig) -> list[dict]:
    size = float(config.image_size)
    found = []
    for lesion in lesions.split_lesions(mask, label, config.dilation):
        ymin, xmin, ymax, xmax = lesion.box
        found.append({
            "bbox": tfds.features.BBox(ymin / size, xmin / size, ymax / size, xmax / size),
            "label": label,
            "area": lesion.area,
            "is_crowd": False,
            "mask": _png(lesion.mask.astype(np.uint8) * 255),
        })
    return found


def _png(image: np.ndarray) -> bytes:
    """PNG bytes (RGB or single channel); OpenCV encodes several times faster than tf.io."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def _relative(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:   # inside an extracted archive
        return "/".join(path.parts[-4:])
