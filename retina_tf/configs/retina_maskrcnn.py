"""The paper's Mask R-CNN as a registered Model Garden experiment: `retina_maskrcnn`.

Defaults are the seed paper's settings (the README's Training section maps
each to its field).
Training length lives in one place, `task.schedule`: epochs and learning rate
per stage and the length of an epoch; `resolve_schedule` turns it into
`trainer.train_steps` and the stepwise boundaries, so the two never disagree.
"""

import dataclasses
import math
from typing import List, Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams, optimization
from official.vision.configs import backbones, common, decoders
from official.vision.configs import maskrcnn as maskrcnn_config

from retina_tf import LESION_CLASSES

NUM_CLASSES = 1 + len(LESION_CLASSES)   # background, exudate, microaneurysm


@dataclasses.dataclass
class LesionParser(maskrcnn_config.Parser):
    """Stock parser fields plus the paper's rotations and translations.

    aug_scale_min/max scale x and y independently (the paper scales "along x
    and y axes"); aug_translate_max is a fraction of the image side.
    """

    aug_rand_hflip: bool = True
    aug_rand_vflip: bool = True
    aug_rand_rotate90: bool = True
    aug_translate_max: float = 0.1
    aug_scale_min: float = 0.8
    aug_scale_max: float = 1.2
    # aug_type (stock field): randaug applies its photometric operations only (photometric_augmentation).
    # [height, width]: train on random windows of this size cut from the augmented image at the model's
    # input_size (the dataset's resolution), instead of whole images; empty: whole images, as the paper.
    aug_window_size: List[int] = dataclasses.field(default_factory=list)
    # The share of those windows placed to hold a lesion (the others anywhere): lesions cover a few
    # percent of a fundus, so windows placed anywhere mostly hold none.
    aug_window_lesion_fraction: float = 0.0
    # [low, high]: multiply each channel's departure from fill_value by a factor log-uniform in it, as
    # another camera's gamma or colour cast does to a normalised photograph; empty: none.
    aug_channel_contrast: List[float] = dataclasses.field(default_factory=list)
    fill_value: int = 128              # neutral grey of a normalised photograph
    rpn_batch_size_per_im: int = 512   # paper: 512 anchors per image (default 256)
    max_num_instances: int = 320       # above the most lesions on one e-ophtha photograph (~120)
    # All lesion crops of one photograph, in pixels at the dataset's resolution: the
    # fixed size of the training mask labels (1 MiB of uint8; a 1024 px photograph's
    # area, far above e-ophtha's). mask_crop_size is not used: the model samples
    # its targets straight from the crops.
    max_lesion_mask_pixels: int = 2**20


@dataclasses.dataclass
class LesionDataConfig(maskrcnn_config.DataConfig):
    """Reads a TFDS dataset of retina-tf, e_ophtha or idrid (build it with `retina-tf build-dataset`)."""

    tfds_name: str = "e_ophtha/patients_1024"
    dtype: str = "float32"
    shuffle_buffer_size: int = 200
    # Keep the training split's decoded photographs in memory after the first pass (Model Garden's `cache`
    # keeps parsed ones, which freezes the augmentation). TFDS does it by itself for a dataset under
    # 250 MiB (idrid/lesions_1024); at 2048 px decoding a photograph's PNG costs more than cutting and
    # augmenting its window, and IDRiD's 45 training photographs take about 0.6 GB decoded.
    cache_photographs: bool = False
    parser: LesionParser = dataclasses.field(default_factory=LesionParser)


@dataclasses.dataclass
class Schedule(hyperparams.Config):
    """Training length: the paper's 65 epochs, 25 at 1e-4, 25 at 1e-5, 15 at 1e-6.

    An epoch is steps_per_epoch steps; 0 means one pass over the training
    split (ceil(examples / global batch)). matterport's default was 1000 steps
    per epoch and the paper does not say which it used.
    """

    epochs: List[int] = dataclasses.field(default_factory=lambda: [25, 25, 15])
    learning_rates: List[float] = dataclasses.field(default_factory=lambda: [1e-4, 1e-5, 1e-6])
    steps_per_epoch: int = 0
    validation_every_epochs: int = 5


@dataclasses.dataclass
class Tiling(hyperparams.Config):
    """Inference over overlapping tiles of the normalised photograph (retina_tf.modeling.tiling), in
    validation, `retina-tf evaluate` and the export's signatures.

    tile_size 0 (or at least the photograph's side) runs the whole photograph at once, as the paper; a tile
    of the training window's size keeps the model at the scale it learnt on large photographs, and must be a
    multiple of 2 ** model.max_level. overlap, in pixels: at least the largest lesion's side, so that every
    lesion is whole in one tile.
    """

    tile_size: int = 0
    overlap: int = 128


@dataclasses.dataclass
class RetinaMaskRCNNTask(maskrcnn_config.MaskRCNNTask):
    train_data: LesionDataConfig = dataclasses.field(
        default_factory=lambda: LesionDataConfig(tfds_split="train", is_training=True, global_batch_size=2))
    validation_data: LesionDataConfig = dataclasses.field(
        default_factory=lambda: LesionDataConfig(
            tfds_split="validation", is_training=False, global_batch_size=1, drop_remainder=False))
    schedule: Schedule = dataclasses.field(default_factory=Schedule)
    tiling: Tiling = dataclasses.field(default_factory=Tiling)
    init_checkpoint_modules: str = "backbone"
    per_category_metrics: bool = True


def paper_model() -> maskrcnn_config.MaskRCNN:
    return maskrcnn_config.MaskRCNN(
        num_classes=NUM_CLASSES,
        input_size=[1024, 1024, 3],
        min_level=2,
        max_level=6,
        anchor=maskrcnn_config.Anchor(anchor_size=2.0),   # 8 px on P2 .. 128 px on P6
        backbone=backbones.Backbone(type="resnet", resnet=backbones.ResNet(model_id=101)),
        decoder=decoders.Decoder(type="fpn", fpn=decoders.FPN()),
        # matterport's box head: two fully connected layers of 1024, no convolutions.
        detection_head=maskrcnn_config.DetectionHead(num_convs=0, num_fcs=2, fc_dims=1024),
        roi_sampler=maskrcnn_config.ROISampler(num_sampled_rois=512, foreground_fraction=0.25),
        # Up to 512 * 0.25 foreground ROIs get a mask target.
        mask_sampler=maskrcnn_config.MaskSampler(num_sampled_masks=128),
        detection_generator=maskrcnn_config.DetectionGenerator(
            max_num_detections=256, pre_nms_score_threshold=0.35, nms_iou_threshold=0.3),
        include_mask=True,
    )


@exp_factory.register_config_factory("retina_maskrcnn")
def retina_maskrcnn() -> cfg.ExperimentConfig:
    """The paper's setup on e_ophtha; CPU-safe runtime (YAML files in configs/ set GPU options)."""
    config = cfg.ExperimentConfig(
        runtime=cfg.RuntimeConfig(mixed_precision_dtype=None, enable_xla=False),
        task=RetinaMaskRCNNTask(
            model=paper_model(),
            losses=maskrcnn_config.Losses(l2_weight_decay=1e-4),
            use_coco_metrics=False,   # the task scores with retina_tf.evaluation instead
        ),
        trainer=cfg.TrainerConfig(
            optimizer_config=optimization.OptimizationConfig({
                "optimizer": {"type": "adam", "adam": {"global_clipnorm": 5.0}},
                "learning_rate": {"type": "stepwise",
                                  "stepwise": {"boundaries": [1, 2], "values": [1e-4, 1e-5, 1e-6]}},
                "warmup": {"type": None},
            }),
            max_to_keep=3,
            # retina_tf.engine.preemption saves on SIGTERM for every strategy; Model Garden's own handler
            # (multi-worker only) would install a second one.
            preemption_on_demand_checkpoint=False,
            best_checkpoint_export_subdir="",
        ),
        restrictions=[
            "task.train_data.is_training != None",
            "task.validation_data.is_training != None",
        ])
    return config


# RandAugment operations that move or erase pixels: the photograph would no longer match its lesion masks.
GEOMETRIC_RANDAUG_OPS = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY", "Cutout")


def photometric_augmentation(parser: LesionParser) -> Optional[common.Augmentation]:
    """parser.aug_type as the lesion parser applies it: RandAugment's photometric operations only.

    Model Garden's parsers apply aug_type to the image alone, so its rotations,
    shears, translations and cutouts would move or erase pixels under lesion
    masks that stay put; the parser's aug_rand_* fields move both. Refuses
    AutoAugment, whose fixed policies mix the two.
    """
    aug_type = parser.aug_type
    if aug_type is None or not aug_type.type:
        return None
    if aug_type.type != "randaug":
        raise ValueError(
            f"task.train_data.parser.aug_type.type {aug_type.type!r} is not supported: its policies rotate, "
            "shear and translate the photograph without its lesion masks. Use randaug (its photometric "
            "operations apply) and the parser's aug_rand_* fields for geometry")
    randaug = aug_type.randaug.as_dict()
    randaug["exclude_ops"] = sorted(set(randaug["exclude_ops"] or ()) | set(GEOMETRIC_RANDAUG_OPS))
    return common.Augmentation(type="randaug", randaug=common.RandAugment(**randaug))


def check_frozen_batch_norm(config: cfg.ExperimentConfig) -> None:
    """Refuses a frozen-statistics backbone (bn_trainable false) that no checkpoint initialises.

    Frozen batch norm (matterport's TRAIN_BN = False, Detectron2's FrozenBN)
    keeps the statistics the backbone starts with, which is right for
    pretrained weights at the paper's 2 photographs per GPU and meaningless
    for a backbone trained from scratch.
    """
    task = config.task
    backbone = task.model.backbone
    if backbone.type != "resnet" or backbone.resnet.bn_trainable:
        return
    modules = task.init_checkpoint_modules
    modules = modules.split(",") if isinstance(modules, str) else list(modules)
    if not task.init_checkpoint or not {"all", "backbone"} & {module.strip() for module in modules}:
        raise ValueError(
            "task.model.backbone.resnet.bn_trainable is false (batch norm frozen at the pretrained "
            "statistics) but no init checkpoint gives the backbone: pass --init-checkpoint with "
            "pretrained weights, or set it true to train the backbone from scratch")


# At most this many steps between two chances to stop on SIGTERM (retina_tf.engine.preemption): a spot VM's
# 30 s of notice must hold a loop and a checkpoint.
MAX_STEPS_PER_LOOP = 20


def _steps_per_loop(steps_per_epoch: int) -> int:
    """The largest divisor of an epoch up to MAX_STEPS_PER_LOOP: orbit needs checkpoint and validation
    intervals (whole epochs) to be multiples of it."""
    return max(d for d in range(1, min(steps_per_epoch, MAX_STEPS_PER_LOOP) + 1) if steps_per_epoch % d == 0)


def resolve_schedule(config: cfg.ExperimentConfig, train_examples: Optional[int]) -> cfg.ExperimentConfig:
    """Fills trainer steps, intervals and learning-rate boundaries from task.schedule.

    train_examples is the size of the training split; it is needed only when
    schedule.steps_per_epoch is 0 (an epoch is one pass over the split).
    """
    schedule = config.task.schedule
    if len(schedule.epochs) != len(schedule.learning_rates) or not schedule.epochs:
        raise ValueError(f"task.schedule: epochs {schedule.epochs} and learning_rates "
                         f"{schedule.learning_rates} must be non-empty and of the same length")
    if any(epochs <= 0 for epochs in schedule.epochs):
        raise ValueError(f"task.schedule.epochs must be positive, got {schedule.epochs}")
    steps_per_epoch = schedule.steps_per_epoch
    if steps_per_epoch <= 0:
        if not train_examples:
            raise ValueError("task.schedule.steps_per_epoch is 0 (one pass over the training split) "
                             "but the training split's size is unknown")
        steps_per_epoch = math.ceil(train_examples / config.task.train_data.global_batch_size)
    ends = [steps_per_epoch * sum(schedule.epochs[:i + 1]) for i in range(len(schedule.epochs))]
    trainer = config.trainer
    trainer.train_steps = ends[-1]
    trainer.steps_per_loop = _steps_per_loop(steps_per_epoch)
    trainer.summary_interval = trainer.steps_per_loop
    trainer.checkpoint_interval = steps_per_epoch
    trainer.validation_interval = steps_per_epoch * max(1, schedule.validation_every_epochs)
    boundaries, rates = ends[:-1], list(schedule.learning_rates)
    if not boundaries:   # Keras's piecewise schedule needs a boundary: one stage's rate holds past the end
        boundaries, rates = ends, rates * 2
    trainer.optimizer_config.learning_rate.stepwise.boundaries = boundaries
    trainer.optimizer_config.learning_rate.stepwise.values = rates
    return config
