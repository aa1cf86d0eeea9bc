"""Pretrained ResNet backbones for --init-checkpoint, from the ImageNet weights a user has.

The output is `tf.train.Checkpoint(backbone=...)`, the layout Model Garden's
Mask R-CNN task restores with init_checkpoint_modules: backbone. Sources:
a Model Garden classification checkpoint (`tf.train.Checkpoint(model=...)`
of a ClassificationModel, as its image_classification task saves it) and
Keras Applications' ResNet50/101/152 `.h5` weights. `restore` also reads the
backbone straight out of a classification checkpoint, so `retina-tf train
--init-checkpoint` takes one without conversion.
"""

import dataclasses
import os

import h5py
import numpy as np
import tensorflow as tf
import tf_keras
from official.vision.modeling.backbones import resnet
from official.vision.modeling.layers import nn_blocks
from official.vision.ops import preprocess_ops
from tensorflow.core.protobuf import trackable_object_graph_pb2

from retina_tf.utils.errors import UserError

# Where Model Garden's checkpoints keep a module: at the top (its pretrained backbones, this module's
# output), or under the trainer's `model` (a ClassificationModel tracks its backbone as _backbone); and the
# trainer's whole `model`, which init_checkpoint_modules "all" restores (a trained Mask R-CNN, fine-tuned).
_MODULE_PATHS = {
    "backbone": (("backbone",), ("model", "backbone"), ("model", "_backbone")),
    "decoder": (("decoder",), ("model", "decoder"), ("model", "_decoder")),
    "model": (("model",),),
}

# keras.applications.resnet (ResNet v1): batch norm epsilon, and preprocess_input's "caffe" mode, which
# feeds BGR photographs (0..255) minus this mean, unscaled.
KERAS_BN_EPSILON = 1.001e-5
KERAS_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclasses.dataclass
class Conversion:
    """A Model Garden ResNet holding the source's weights, and what of the source did not carry over."""

    backbone: tf_keras.Model
    model_id: int
    mapped: int                    # backbone variables given the source's values
    not_mapped: list[str]          # one line each, for a person


def module_names(init_checkpoint_modules) -> list[str]:
    """task.init_checkpoint_modules ("backbone", "backbone,decoder", "all" or a list) as a list of names."""
    value = init_checkpoint_modules
    names = [name.strip() for name in (value.split(",") if isinstance(value, str) else value)]
    if names != ["all"] and not set(names) <= {"backbone", "decoder"}:
        raise UserError(f"task.init_checkpoint_modules {value!r}: give backbone, decoder (comma-separated) or all")
    return names


def resnet_backbone(model_id: int) -> tf_keras.Model:
    """Model Garden's ResNet as its backbone factory builds it (v0 stem); variables do not depend on input size."""
    return resnet.ResNet(model_id=model_id, input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, 3]))


def write(backbone: tf_keras.Model, out_dir) -> str:
    """Saves `backbone` as tf.train.Checkpoint(backbone=...) in out_dir; returns the checkpoint prefix."""
    return tf.train.Checkpoint(backbone=backbone).save(os.path.join(os.fspath(out_dir), "backbone"))


def restore(checkpoint, modules: dict) -> str:
    """Restores each module ("backbone", "decoder", or "model": the whole Mask R-CNN -> a Keras model) from
    where `checkpoint` keeps it.

    checkpoint is a checkpoint prefix or a folder (its latest checkpoint);
    every variable of each module must be found there. Returns the prefix read.
    """
    prefix = _checkpoint_prefix(checkpoint)
    graph = _object_graph(prefix)
    tree = {}
    for name, module in modules.items():
        path = _module_path(graph, name)
        if path is None:
            looked = ", ".join("/".join(candidate) for candidate in _MODULE_PATHS[name])
            raise UserError(f"{prefix}: the checkpoint holds no {name} (looked for {looked})")
        node = tree
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = module
    try:
        _as_checkpoint(tree).read(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        first = str(error).strip().splitlines()[0]
        differs = ("another backbone, heads or mask grid? compare the params.yaml beside it" if "model" in modules
                   else "another ResNet depth? task.model.backbone.resnet.model_id")
        raise UserError(f"{prefix}: its {', '.join(modules)} does not fit the model's ({differs}): {first}"
                        ) from error
    return prefix


def from_classification_checkpoint(checkpoint) -> Conversion:
    """The backbone of a Model Garden classification checkpoint (ResNet-18/34/50/101/152...), depth read from it."""
    prefix = _checkpoint_prefix(checkpoint)
    graph = _object_graph(prefix)
    path = _module_path(graph, "backbone")
    if path is None:
        raise UserError(f"{prefix}: not a Model Garden classification checkpoint (no model/_backbone in it)")
    model_id = _resnet_depth(graph, _node(graph, path))
    backbone = resnet_backbone(model_id)
    restore(prefix, {"backbone": backbone})
    not_mapped = [f"not used: all but {'/'.join(path)} (the classifier's head)"] if path[0] == "model" else []
    return Conversion(backbone, model_id, mapped=len(backbone.variables), not_mapped=not_mapped)


def from_keras_h5(weights_file) -> Conversion:
    """Keras Applications' ResNet50/101/152 weights (with or without top) in Model Garden's ResNet.

    Every convolution and batch norm maps one to one by position; the
    values change where the two networks differ in form, so that each layer
    computes what it did in Keras: the first convolution reads Model
    Garden's normalised RGB instead of Caffe-style BGR, convolution biases
    (Model Garden's convolutions have none) move into the batch-norm means,
    and moving variances absorb the larger batch-norm epsilon. What cannot
    be mapped (where the stride and the padding sit) is listed in
    not_mapped.
    """
    layers = _read_h5(weights_file)
    if "post_bn" in layers:
        raise UserError(f"{weights_file}: Keras Applications' ResNetV2 (pre-activation) has no counterpart in "
                        "Model Garden's ResNet; use ResNet50, ResNet101 or ResNet152 weights")
    if "conv1_conv" not in layers or "conv2_block1_3_conv" not in layers:
        raise UserError(f"{weights_file}: not Keras Applications' ResNet50/101/152 weights (no conv1_conv, "
                        "conv2_block1_3_conv layers)")
    repeats = [sum(1 for name in layers if name.startswith(f"conv{stage}_block") and name.endswith("_1_conv"))
               for stage in (2, 3, 4, 5)]
    model_id = next((model_id for model_id, specs in resnet.RESNET_SPECS.items()
                     if [spec[0] for spec in specs] == ["bottleneck"] * 4 and [spec[2] for spec in specs] == repeats),
                    None)
    if model_id is None:
        raise UserError(f"{weights_file}: a ResNet with {repeats} blocks per stage, which Model Garden does not build")
    backbone = resnet_backbone(model_id)
    clipped = assigned = 0
    pairs = _keras_pairs(backbone, model_id)
    for name, conv, norm in pairs:
        kernel, bias = layers.pop(f"{name}_conv")
        gamma, beta, mean, variance = layers.pop(f"{name}_bn")
        if name == "conv1":
            kernel, bias = _stem_for_normalised_rgb(kernel, bias)
        variance = variance + KERAS_BN_EPSILON - norm.epsilon
        clipped += int(np.sum(variance < 0))
        for variable, value in ((conv.kernel, kernel), (norm.gamma, gamma), (norm.beta, beta),
                                (norm.moving_mean, mean - bias), (norm.moving_variance, np.maximum(variance, 0))):
            if tuple(variable.shape) != value.shape:
                raise UserError(f"{weights_file}: {name} has shape {value.shape}, Model Garden's ResNet-{model_id} "
                                f"{tuple(variable.shape)} at {variable.name}")
            variable.assign(value)
            assigned += 1
    strided = ", ".join(f"conv{stage}_block1" for stage in (3, 4, 5))
    not_mapped = [
        f"stride: {strided} stride on their first 1x1 convolution in Keras, on the 3x3 in Model Garden "
        "(same weights, other sampling: features from C3 on differ until fine-tuned)",
        "padding: the 7x7 stem and its max pool pad 3 and 1 pixels on every side in Keras, 'same' in Model "
        "Garden (features move by 3 pixels of the photograph)",
        f"batch norm: epsilon {KERAS_BN_EPSILON:g} in Keras, {pairs[0][2].epsilon:g} here: moving variances lowered "
        "by the difference" + (f" ({clipped} channels stop at 0: their variance was smaller)" if clipped else ""),
    ]
    not_mapped += [f"not used: {name} (ImageNet's classifier)" for name in layers]
    return Conversion(backbone, model_id, mapped=assigned, not_mapped=not_mapped)


def _stem_for_normalised_rgb(kernel: np.ndarray, bias: np.ndarray):
    """The first convolution for Model Garden's input (RGB, (x - MEAN_RGB) / STDDEV_RGB) instead of Keras'
    (BGR, x - KERAS_CAFFE_MEAN_BGR): the same output for the same photograph, away from the border."""
    rgb_kernel = kernel[:, :, ::-1, :]
    mean_gap = np.asarray(preprocess_ops.MEAN_RGB) - np.asarray(KERAS_CAFFE_MEAN_BGR[::-1])
    scaled = rgb_kernel * np.asarray(preprocess_ops.STDDEV_RGB)[None, None, :, None]
    return scaled.astype(kernel.dtype), (bias + np.einsum("hwco,c->o", rgb_kernel, mean_gap)).astype(bias.dtype)


def _keras_pairs(backbone: tf_keras.Model, model_id: int):
    """(Keras layer prefix, Model Garden convolution, its batch norm) in the order both networks compute them.

    The block attributes are the names Model Garden's checkpoints use
    (_shortcut/_norm0 the projection, _conv1.._conv3 with _norm1.._norm3).
    """
    convs = [layer for layer in backbone.layers if isinstance(layer, tf_keras.layers.Conv2D)]
    norms = [layer for layer in backbone.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    pairs = [("conv1", convs[0], norms[0])]
    blocks = [layer for layer in backbone.layers if isinstance(layer, nn_blocks.BottleneckBlock)]
    positions = [(stage, block) for stage, spec in enumerate(resnet.RESNET_SPECS[model_id], start=2)
                 for block in range(1, spec[2] + 1)]
    for (stage, index), block in zip(positions, blocks, strict=True):
        prefix = f"conv{stage}_block{index}"
        if block._use_projection:
            pairs.append((f"{prefix}_0", block._shortcut, block._norm0))
        pairs += [(f"{prefix}_{i}", getattr(block, f"_conv{i}"), getattr(block, f"_norm{i}")) for i in (1, 2, 3)]
    return pairs


def _read_h5(weights_file) -> dict:
    """Layer name -> its weight arrays in Keras' order, from a Keras save_weights .h5 file."""
    if not tf.io.gfile.exists(os.fspath(weights_file)):
        raise UserError(f"{weights_file}: no such file")
    try:
        with tf.io.gfile.GFile(os.fspath(weights_file), "rb") as stream, h5py.File(stream, "r") as h5:
            return {name: [np.asarray(h5[name][weight]) for weight in h5[name].attrs["weight_names"]]
                    for name in map(_text, h5.attrs["layer_names"]) if len(h5[name].attrs["weight_names"])}
    except (OSError, KeyError, tf.errors.OpError) as error:
        raise UserError(f"{weights_file}: not a Keras weights .h5 file ({error})") from error


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _checkpoint_prefix(checkpoint) -> str:
    checkpoint = os.fspath(checkpoint)
    if tf.io.gfile.isdir(checkpoint):
        latest = tf.train.latest_checkpoint(checkpoint)
        if latest is None:
            raise UserError(f"{checkpoint}: no checkpoint in this folder")
        return latest
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise UserError(f"{checkpoint}: no such checkpoint (neither a folder nor a prefix with a .index file)")
    return checkpoint


def _object_graph(prefix: str) -> trackable_object_graph_pb2.TrackableObjectGraph:
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except (tf.errors.NotFoundError, ValueError) as error:
        raise UserError(f"{prefix}: not an object-based TensorFlow checkpoint (tf.train.Checkpoint)") from error
    return graph


def _children(graph, node_id: int) -> dict:
    return {child.local_name: child.node_id for child in graph.nodes[node_id].children}


def _node(graph, path) -> int:
    node = 0
    for step in path:
        node = _children(graph, node)[step]
    return node


def _module_path(graph, module: str):
    for path in _MODULE_PATHS[module]:
        try:
            _node(graph, path)
        except KeyError:
            continue
        return path
    return None


def _resnet_depth(graph, backbone_node: int) -> int:
    """Model Garden's model_id for the ResNet saved under backbone_node: its blocks, counted, and their kind."""
    blocks = {node for node in _children(graph, backbone_node).values() if "_conv1" in _children(graph, node)}
    kind = "bottleneck" if any("_conv3" in _children(graph, node) for node in blocks) else "residual"
    for model_id, specs in resnet.RESNET_SPECS.items():
        if specs[0][0] == kind and sum(spec[2] for spec in specs) == len(blocks):
            return model_id
    raise UserError(f"the checkpoint's backbone has {len(blocks)} {kind} blocks: no Model Garden ResNet depth has")


def _as_checkpoint(tree: dict) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(**{name: _as_checkpoint(value) if isinstance(value, dict) else value
                                  for name, value in tree.items()})
