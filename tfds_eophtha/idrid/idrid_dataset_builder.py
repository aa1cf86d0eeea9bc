"""IDRiD's segmentation set (ISBI 2018): hard exudates and microaneurysms, normalised as e_ophtha is."""

import dataclasses

import tensorflow_datasets.public_api as tfds

from retina_tf.data import eophtha, examples, idrid, lesions

_HOMEPAGE = "https://idrid.grand-challenge.org/"

_MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download IDRiD (CC BY 4.0) from IEEE Dataport (doi:10.21227/H25W98) and
unpack it. Put in `manual_dir` the folder that holds `A. Segmentation`, or
`A. Segmentation` itself:

    A. Segmentation/1. Original Images/{a. Training Set,b. Testing Set}/IDRiD_NN.jpg
    A. Segmentation/2. All Segmentation Groundtruths/{a. Training Set,b. Testing Set}/
        1. Microaneurysms/IDRiD_NN_MA.tif
        3. Hard Exudates/IDRiD_NN_EX.tif

Haemorrhages, soft exudates, the optic disc and the parts `B. Disease
Grading` and `C. Localization` are not read.
"""


@dataclasses.dataclass(eq=False)
class IdridConfig(tfds.core.BuilderConfig):
    """At what size, and which mask each lesion instance carries."""

    image_size: int = 1024
    dilation: lesions.Dilation = dataclasses.field(default_factory=lambda: lesions.LESION_SIZED)


_SPLIT = ("IDRiD's split: its 27 test photographs are `test`; one in six of its 54 training photographs, "
          "ranked by lesion count, is `validation`")
_LESION_SIZED = "instances grouped by the paper's dilation, each mask the lesion pixels as drawn inside it"
_DILATED = "the paper's masks: each instance's mask is its dilated component"


def _config(name, size, dilation, masks):
    return IdridConfig(name=name, image_size=size, dilation=dilation,
                       description=f"{_SPLIT}; {masks}; {size}x{size}")


BUILDER_CONFIGS = [
    _config("lesions_1024", 1024, lesions.LESION_SIZED, _LESION_SIZED + " (default)"),
    _config("lesions_2048", 2048, lesions.LESION_SIZED_AT_2048,
            _LESION_SIZED + ", grouped as at 1024 px (4 dilations); microaneurysms at twice their 1024 px size"),
    _config("lesions_512", 512, lesions.LESION_SIZED, _LESION_SIZED),
    _config("dilated_1024", 1024, lesions.Dilation(), _DILATED),
    _config("dilated_512", 512, lesions.Dilation(), _DILATED),
]


class Builder(tfds.core.GeneratorBasedBuilder):
    """IDRiD segmentation: normalised fundus photographs with exudate and microaneurysm instances."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = BUILDER_CONFIGS
    DEFAULT_BUILDER_CONFIG_NAME = "lesions_1024"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=examples.fundus_features(self.builder_config.image_size,
                                              "photograph path inside 'A. Segmentation'"),
            homepage=_HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        photographs = idrid.scan(dl_manager.manual_dir)
        root = idrid.segmentation_root(dl_manager.manual_dir)
        return {name: self._generate_examples(chosen, root)
                for name, chosen in idrid.split_photographs(photographs).items()}

    def _generate_examples(self, photographs, root):
        config = self.builder_config
        fundus_examples = examples.FundusExamples(config.image_size, config.dilation)
        for photograph in photographs:
            yield photograph.stem, fundus_examples.example(examples.FundusRecord(
                key=photograph.stem,
                image_id=photograph.number,
                filename=str(photograph.path.relative_to(root)),
                patient=photograph.stem,   # IDRiD names no patient: one photograph per eye
                photograph=eophtha.read_photograph(photograph.path),
                masks={lesion: idrid.read_mask(path) for lesion, path in photograph.masks.items()},
                status=photograph.status))
