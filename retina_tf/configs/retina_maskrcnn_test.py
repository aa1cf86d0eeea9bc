"""The registered experiment holds the paper's settings; the YAML files load strictly."""


import pytest
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling.optimization import optimizer_factory

from retina_tf.configs import CONFIG_DIR, retina_maskrcnn
from retina_tf.configs.experiment import EXPERIMENT


def test_defaults_are_the_papers():
    config = exp_factory.get_exp_config(EXPERIMENT)
    model, parser = config.task.model, config.task.train_data.parser
    assert model.num_classes == 3 and model.input_size == [1024, 1024, 3]
    assert model.backbone.resnet.model_id == 101 and model.decoder.type == "fpn"
    assert model.anchor.anchor_size * 2 ** model.min_level == 8   # 8 px anchors on P2
    assert (model.detection_head.num_convs, model.detection_head.num_fcs, model.detection_head.fc_dims) == (0, 2, 1024)
    assert parser.rpn_batch_size_per_im == 512 and model.roi_sampler.num_sampled_rois == 512
    assert model.detection_generator.max_num_detections == 256
    assert model.detection_generator.pre_nms_score_threshold == 0.35
    assert parser.max_num_instances > 120
    assert parser.aug_rand_hflip and parser.aug_rand_vflip and parser.aug_rand_rotate90
    assert config.trainer.optimizer_config.optimizer.type == "adam"
    assert config.trainer.optimizer_config.warmup.type is None
    assert config.task.schedule.epochs == [25, 25, 15]
    assert config.task.schedule.learning_rates == [1e-4, 1e-5, 1e-6]


def test_the_schedule_gives_steps_and_boundaries():
    config = retina_maskrcnn.resolve_schedule(exp_factory.get_exp_config(EXPERIMENT), train_examples=155)
    # One epoch is one pass over 155 photographs at batch 2: 78 steps.
    assert config.trainer.train_steps == 65 * 78
    assert config.trainer.optimizer_config.learning_rate.stepwise.boundaries == [25 * 78, 50 * 78]
    assert config.trainer.checkpoint_interval == 78
    with pytest.raises(ValueError, match="same length"):
        config.task.schedule.learning_rates = [1e-4]
        retina_maskrcnn.resolve_schedule(config, 155)


@pytest.mark.parametrize("files", [["smoke_cpu.yaml"], ["smoke_cpu.yaml", "real_cpu.yaml"], ["paper_1gpu.yaml"],
                                   ["paper_1gpu.yaml", "paper_multi_gpu.yaml"],
                                   ["paper_1gpu.yaml", "paper_multi_worker.yaml"],
                                   ["smoke_cpu.yaml", "real_cpu.yaml", "idrid_cpu.yaml"],
                                   ["smoke_cpu.yaml", "real_cpu.yaml", "idrid_cpu.yaml", "idrid_2048_cpu.yaml"],
                                   ["paper_1gpu.yaml", "idrid_1gpu.yaml"]])
def test_every_yaml_loads_strictly(files):
    config = exp_factory.get_exp_config(EXPERIMENT)
    for name in files:
        config = hyperparams.override_params_dict(config, str(CONFIG_DIR / name), is_strict=True)
    retina_maskrcnn.resolve_schedule(config, 155)
    config.validate()


def test_the_smoke_config_keeps_model_gardens_accelerator_defaults_out():
    config = hyperparams.override_params_dict(
        exp_factory.get_exp_config(EXPERIMENT), str(CONFIG_DIR / "smoke_cpu.yaml"), is_strict=True)
    assert config.runtime.mixed_precision_dtype in (None, "float32") and not config.runtime.enable_xla
    assert config.task.train_data.dtype == "float32" and not config.task.model.norm_activation.use_sync_bn
    assert config.task.train_data.global_batch_size <= 2 and not config.task.init_checkpoint
    assert config.task.model.backbone.resnet.model_id <= 18


def test_a_frozen_batch_norm_backbone_needs_pretrained_weights():
    config = hyperparams.override_params_dict(
        exp_factory.get_exp_config(EXPERIMENT), str(CONFIG_DIR / "paper_1gpu.yaml"), is_strict=True)
    assert not config.task.model.backbone.resnet.bn_trainable   # the paper's (matterport's) TRAIN_BN = False
    with pytest.raises(ValueError, match="bn_trainable is false"):
        retina_maskrcnn.check_frozen_batch_norm(config)
    config.task.init_checkpoint = "/checkpoints/resnet101"
    config.task.init_checkpoint_modules = "decoder"
    with pytest.raises(ValueError, match="no init checkpoint gives the backbone"):
        retina_maskrcnn.check_frozen_batch_norm(config)
    for modules in ("backbone", "backbone,decoder", "all"):
        config.task.init_checkpoint_modules = modules
        retina_maskrcnn.check_frozen_batch_norm(config)
    config.task.init_checkpoint = None
    config.task.model.backbone.resnet.bn_trainable = True   # from scratch, statistics learnt
    retina_maskrcnn.check_frozen_batch_norm(config)


def test_the_smoke_config_settles_its_batch_norm_statistics_within_its_run():
    """0.997 (Model Garden's Mask R-CNN) leaves a third of the initial statistics after 400 steps."""
    config = hyperparams.override_params_dict(
        exp_factory.get_exp_config(EXPERIMENT), str(CONFIG_DIR / "smoke_cpu.yaml"), is_strict=True)
    assert config.task.model.norm_activation.norm_momentum ** 400 < 0.05


def test_randaug_keeps_to_photometric_operations_and_autoaug_is_refused():
    parser = retina_maskrcnn.LesionParser()
    assert retina_maskrcnn.photometric_augmentation(parser) is None
    parser.override({"aug_type": {"type": "randaug", "randaug": {"magnitude": 15, "exclude_ops": ["Invert"]}}})
    applied = retina_maskrcnn.photometric_augmentation(parser)
    assert applied.randaug.magnitude == 15
    assert set(applied.randaug.exclude_ops) == {"Invert", *retina_maskrcnn.GEOMETRIC_RANDAUG_OPS}
    parser.override({"aug_type": {"type": "autoaug"}})
    with pytest.raises(ValueError, match="'autoaug' is not supported.*without its lesion masks"):
        retina_maskrcnn.photometric_augmentation(parser)


def test_a_schedule_of_one_stage_keeps_its_rate_to_the_end():
    config = exp_factory.get_exp_config(EXPERIMENT)
    config.task.schedule.epochs, config.task.schedule.learning_rates = [3], [1e-4]
    config.task.schedule.steps_per_epoch = 10
    config = retina_maskrcnn.resolve_schedule(config, 155)
    assert config.trainer.train_steps == 30
    rate = optimizer_factory.OptimizerFactory(config.trainer.optimizer_config).build_learning_rate()
    assert [float(rate(step)) for step in (0, 29, 30)] == pytest.approx([1e-4] * 3)
