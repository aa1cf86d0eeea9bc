"""e-ophtha EX and MA, normalised as in the seed paper, with one mask per lesion."""

import dataclasses
import pathlib

import tensorflow_datasets.public_api as tfds

from retina_tf.data import eophtha, examples, lesions

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
    dilation = lesions.PAPER_AT_2048 if image_size == 2048 else lesions.Dilation()
    return EophthaConfig(name=name, split_by=split_by, include_healthy=include_healthy,
                         image_size=image_size, dilation=dilation, description=description)


_PAPER = ("the paper's split: the lesion photographs shuffled (seed 0) into train/validation/test "
          "in the proportions 155/20/20; photographs of one patient may land in different splits")
_PATIENTS = ("lesion photographs split by patient (seed 0), sizes as near 155/20/20 as whole "
             "patients allow: no patient in two splits")
_HEALTHY = ("lesion and healthy photographs split by patient, for specificity and screening figures")
_ALL_TRAIN = ("every lesion photograph in train, no validation or test split: a handful of photographs "
              "(fitting checks such as benchmarks/learn_real.py) or your own cross-validation folds")
_AT_2048 = ("; 2048x2048, lesions grouped as at 1024 px (4 dilations): e-ophtha's largest photographs "
            "at nearly their own resolution, for small microaneurysms")

BUILDER_CONFIGS = [
    _config("patients_1024", "patient", False, 1024, _PATIENTS + "; 1024x1024 (default)"),
    _config("paper_1024", "photograph", False, 1024, _PAPER + "; 1024x1024"),
    _config("patients_with_healthy_1024", "patient", True, 1024, _HEALTHY + "; 1024x1024"),
    _config("patients_2048", "patient", False, 2048, _PATIENTS + _AT_2048),
    _config("patients_with_healthy_2048", "patient", True, 2048, _HEALTHY + _AT_2048),
    _config("patients_512", "patient", False, 512, _PATIENTS + "; 512x512 for fast experiments"),
    _config("paper_512", "photograph", False, 512, _PAPER + "; 512x512 for fast experiments"),
    _config("patients_with_healthy_512", "patient", True, 512, _HEALTHY + "; 512x512 for fast experiments"),
    _config("all_train_1024", "none", False, 1024, _ALL_TRAIN + "; 1024x1024"),
    _config("all_train_512", "none", False, 512, _ALL_TRAIN + "; 512x512"),
]


class Builder(tfds.core.GeneratorBasedBuilder):
    """e-ophtha EX and MA: normalised fundus photographs with exudate and microaneurysm instances."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release.",
                     "1.1.0": "lesion_pixels and original_lesion_pixels: the lesions as drawn, for pixel AUPR."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = BUILDER_CONFIGS
    DEFAULT_BUILDER_CONFIG_NAME = "patients_1024"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=examples.fundus_features(self.builder_config.image_size, "photograph path inside e-ophtha"),
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
                raise eophtha.EophthaError(manual_dir, [f"no lesion photographs for config {config.name}"])
            return {"train": self._generate_examples(chosen, ids, manual_dir)}
        splits = eophtha.split_photographs(chosen, by_patient=config.split_by == "patient", seed=config.seed)
        empty = [name for name, photographs in splits.items() if not photographs]
        if empty:
            raise eophtha.EophthaError(manual_dir, [
                f"{len(chosen)} photographs for config {config.name} are too few to fill train, validation "
                f"and test ({', '.join(empty)} would be empty)"])
        return {name: self._generate_examples(photographs, ids, manual_dir)
                for name, photographs in splits.items()}

    def _generate_examples(self, photographs, ids, manual_dir):
        config = self.builder_config
        fundus_examples = examples.FundusExamples(config.image_size, config.dilation)
        for photograph in photographs:
            yield photograph.key, fundus_examples.example(examples.FundusRecord(
                key=photograph.key,
                image_id=ids[photograph.key],
                filename=_relative(photograph.path, manual_dir),
                patient=photograph.patient,
                photograph=eophtha.read_photograph(photograph.path),
                masks={lesion: eophtha.read_mask(path) for lesion, path in photograph.masks.items()},
                status=dict(photograph.status)))


def _relative(path, root) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:   # inside an extracted archive
        return "/".join(path.parts[-4:])
