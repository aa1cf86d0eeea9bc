"""Pretrained backbones: every variable receives the source's value, and the features follow it."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import task_factory
from official.vision.modeling import classification_model
from official.vision.modeling.layers import nn_blocks
from official.vision.ops import preprocess_ops

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU, experiment
from retina_tf.modeling import pretrained
from retina_tf.utils.errors import UserError


def _randomise(model, seed):
    """Random batch-norm statistics and biases (kernels start random already), so that a copy can be told apart
    from a fresh network and folding a bias into a mean shows."""
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        name = variable.name
        if "moving_variance" in name or "gamma" in name:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape))
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            variable.assign(rng.normal(0.0, 0.1, variable.shape))


@pytest.fixture(scope="module")
def classification_checkpoint(tmp_path_factory):
    """A ResNet-18 classifier with random weights, saved as Model Garden's trainer saves it (model, optimizer, step)."""
    model = classification_model.ClassificationModel(
        pretrained.resnet_backbone(18), num_classes=5,
        input_specs=tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]))
    _randomise(model, seed=1)
    folder = tmp_path_factory.mktemp("imagenet_resnet18")
    tf.train.Checkpoint(model=model, optimizer=tf_keras.optimizers.SGD(),
                        global_step=tf.Variable(7, dtype=tf.int64)).save(str(folder / "ckpt"))
    return folder, model


@pytest.fixture(scope="module")
def keras_resnet50(tmp_path_factory):
    """Keras Applications' ResNet50 without top, random weights, saved as its ImageNet .h5 file is."""
    model = tf_keras.applications.ResNet50(weights=None, include_top=False)
    _randomise(model, seed=2)
    path = tmp_path_factory.mktemp("keras") / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    model.save_weights(str(path))
    return path, model


def _assert_same_variables(expected, actual):
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        assert want.shape == got.shape
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.name)


def test_a_classification_checkpoint_gives_every_backbone_variable_and_the_same_features(
        classification_checkpoint, tmp_path):
    folder, classifier = classification_checkpoint
    conversion = pretrained.from_classification_checkpoint(folder)
    assert conversion.model_id == 18 and conversion.mapped == len(classifier.backbone.variables)
    pretrained.write(conversion.backbone, tmp_path)

    backbone = pretrained.resnet_backbone(18)
    pretrained.restore(tmp_path, {"backbone": backbone})   # the layout --init-checkpoint restores
    _assert_same_variables(classifier.backbone.variables, backbone.variables)
    image = tf.random.stateless_normal([1, 64, 64, 3], seed=[3, 4])
    want, got = classifier.backbone(image, training=False), backbone(image, training=False)
    assert sorted(got) == ["2", "3", "4", "5"]
    for level in want:
        np.testing.assert_allclose(got[level].numpy(), want[level].numpy(), rtol=1e-5, atol=1e-5)


def test_train_init_checkpoint_takes_a_classification_checkpoint_as_it_is(classification_checkpoint):
    folder, classifier = classification_checkpoint
    params = experiment.layered_params([SMOKE_CPU])   # ResNet-18
    params.task.init_checkpoint = str(folder)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    task.initialize(model)
    _assert_same_variables(classifier.backbone.variables, model.backbone.variables)

    params.task.init_checkpoint_modules = "backbone,decoder"
    with pytest.raises(UserError, match="holds no decoder"):
        task_factory.get_task(params.task).initialize(model)


def test_all_modules_fine_tune_a_trained_model_at_another_resolution(classification_checkpoint, tmp_path):
    """init_checkpoint_modules all: every variable of a trained Mask R-CNN, as the trainer saves it, starts a
    model of the same architecture at another input size; a checkpoint without that model is refused."""
    params = experiment.layered_params([SMOKE_CPU])
    trained = task_factory.get_task(params.task).build_model()
    _randomise(trained, seed=5)
    tf.train.Checkpoint(model=trained, optimizer=tf_keras.optimizers.Adam(),
                        global_step=tf.Variable(300, dtype=tf.int64)).save(str(tmp_path / "ckpt"))

    params = experiment.layered_params([SMOKE_CPU], ["task.model.input_size=[512,512,3]"])
    params.task.init_checkpoint, params.task.init_checkpoint_modules = str(tmp_path), "all"
    task = task_factory.get_task(params.task)
    model = task.build_model()
    task.initialize(model)
    _assert_same_variables(trained.variables, model.variables)

    params.task.init_checkpoint = str(classification_checkpoint[0])   # a `model`, but a classifier
    with pytest.raises(UserError, match="its model does not fit") as raised:
        task_factory.get_task(params.task).initialize(model)
    assert "\n" not in str(raised.value)
    pretrained.write(pretrained.resnet_backbone(18), tmp_path / "backbone")
    params.task.init_checkpoint = str(tmp_path / "backbone")
    with pytest.raises(UserError, match="holds no model"):
        task_factory.get_task(params.task).initialize(model)


def test_a_checkpoint_of_another_depth_is_refused_in_one_line(classification_checkpoint):
    folder, _ = classification_checkpoint
    with pytest.raises(UserError, match="does not fit") as raised:
        pretrained.restore(folder, {"backbone": pretrained.resnet_backbone(50)})
    assert "\n" not in str(raised.value)


def _keras_value(keras_model, model_garden_variable, keras_layer):
    """What the conversion must have written into a Model Garden variable from a Keras conv + batch norm pair."""
    conv, norm = keras_model.get_layer(f"{keras_layer}_conv"), keras_model.get_layer(f"{keras_layer}_bn")
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
    name = model_garden_variable.name
    if "kernel" in name:
        return kernel
    if "gamma" in name or "beta" in name:
        return getattr(norm, "gamma" if "gamma" in name else "beta").numpy()
    if "moving_mean" in name:
        return norm.moving_mean.numpy() - bias
    return norm.moving_variance.numpy() + norm.epsilon - 1e-3   # Model Garden's batch-norm epsilon


def test_keras_h5_weights_reach_every_backbone_variable(keras_resnet50):
    path, keras_model = keras_resnet50
    conversion = pretrained.from_keras_h5(path)
    backbone = conversion.backbone
    assert conversion.model_id == 50 and conversion.mapped == len(backbone.variables)
    assert any("stride" in line for line in conversion.not_mapped)

    # Model Garden's layers by Keras name, written out here: the stem, then each block's projection and convolutions.
    stem = [layer for layer in backbone.layers
            if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.BatchNormalization))]
    named = {"conv1": stem[:2]}
    blocks = [layer for layer in backbone.layers if isinstance(layer, nn_blocks.BottleneckBlock)]
    keras_blocks = [(stage, index) for stage, count in zip((2, 3, 4, 5), (3, 4, 6, 3)) for index in range(1, count + 1)]
    for (stage, index), block in zip(keras_blocks, blocks, strict=True):
        if index == 1:
            named[f"conv{stage}_block1_0"] = [block._shortcut, block._norm0]
        for i in (1, 2, 3):
            named[f"conv{stage}_block{index}_{i}"] = [getattr(block, f"_conv{i}"), getattr(block, f"_norm{i}")]
    checked = set()
    for keras_layer, model_garden_layers in named.items():
        for variable in (v for layer in model_garden_layers for v in layer.variables):
            if keras_layer == "conv1" and ("kernel" in variable.name or "moving_mean" in variable.name):
                continue   # the stem's input changed; test_keras_h5_stem_and_c2_compute_what_keras_does checks it
            np.testing.assert_allclose(variable.numpy(), _keras_value(keras_model, variable, keras_layer),
                                       rtol=1e-6, atol=1e-7, err_msg=f"{keras_layer}: {variable.name}")
            checked.add(variable.ref())
    assert len(checked) == len(backbone.variables) - 2


def test_keras_h5_stem_and_c2_compute_what_keras_does(keras_resnet50):
    """Up to C2 the networks differ only in padding: Model Garden's C2 is Keras' on the photograph moved by
    3 pixels; the first convolution reads normalised RGB where Keras read Caffe-style BGR."""
    path, keras_model = keras_resnet50
    backbone = pretrained.from_keras_h5(path).backbone
    photograph = tf.random.stateless_uniform([1, 96, 96, 3], seed=[5, 6], maxval=255.0)
    keras_c2 = tf_keras.Model(keras_model.input, keras_model.get_layer("conv2_block3_out").output)
    want = keras_c2(tf_keras.applications.resnet.preprocess_input(photograph[:, 3:, 3:]), training=False)
    normalised = (photograph - preprocess_ops.MEAN_RGB) / preprocess_ops.STDDEV_RGB
    got = backbone(normalised, training=False)["2"]
    assert got.shape == want.shape == (1, 24, 24, 256)
    # Away from the border, where the padding differs (Keras' photograph also lacks the first 3 rows and columns).
    inside = (slice(None), slice(5, -5), slice(5, -5))
    np.testing.assert_allclose(got.numpy()[inside], want.numpy()[inside], rtol=1e-4, atol=1e-4)


def test_files_that_are_not_resnet_weights_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    tf_keras.Sequential([tf_keras.Input([4]), tf_keras.layers.Dense(2, name="dense")]).save_weights(str(other))
    with pytest.raises(UserError, match="not Keras Applications' ResNet"):
        pretrained.from_keras_h5(other)
    with pytest.raises(UserError, match="no such checkpoint"):
        pretrained.from_classification_checkpoint(tmp_path / "missing" / "ckpt-1")


def test_the_command_writes_what_train_restores_and_says_what_did_not_map(keras_resnet50, tmp_path, capsys):
    path, _ = keras_resnet50
    assert cli.main(["pretrained", str(path), "--out", str(tmp_path / "r50")]) == 0
    out = capsys.readouterr().out
    assert "ResNet-50" in out and "stride" in out and "model_id=50" in out
    backbone = pretrained.resnet_backbone(50)
    pretrained.restore(tmp_path / "r50", {"backbone": backbone})
    _assert_same_variables(pretrained.from_keras_h5(path).backbone.variables, backbone.variables)
