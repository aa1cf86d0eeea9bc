"""The SavedModel's signatures: raw photographs in, lesions in original-photograph pixels out.

Subclasses Model Garden's DetectionModule. `serving_default` takes a batch of
encoded JPEG/PNG photographs of any size and runs, inside the graph, the very
fundus normalisation that built the dataset, then the model, then maps boxes
back to each original photograph, within the pixel budget of
retina_tf.serving.protocol: every header is checked, and the request's
total, before any photograph is decoded, and the photographs are then
decoded and normalised one at a time, so memory follows the largest one. In
a batch of more than one, a refusal starts with the photograph's place,
`photographs[i]: `. `normalised` takes already-normalised images. Both
return the same keys; masks stay M x M probabilities over each box (paste
one into the photograph by resizing it to its box and thresholding at 0.5:
`retina_tf.serving.lesion_records.lesion_masks`). Both answer with the
operating point the module was built with, constants of the graph: each
type's threshold, which lesions reach it (`reported`) and how the thresholds
were chosen, for clients of TF Serving, which cannot read assets.extra.
With `task.tiling` set, both run the model over overlapping tiles of the
normalised photograph and merge the lesions (retina_tf.modeling.tiling)
inside the graph: the outputs keep their keys, shapes and pixels.

The model inside both signatures is frozen: its weights are constants of
the graph, not variables, which TensorFlow optimises further (most likely
batch normalisation folded into the convolutions and filters kept in
oneDNN's packed layout): the ResNet-101 FPN trunk runs about 14% faster on
the CPU (benchmarks/README.md). The SavedModel is for inference
only; the training checkpoints stay the source of the weights.
"""

import numpy as np
import tensorflow as tf
from official.vision.serving import detection

# TensorFlow 2's freezing (TF-TRT and the TFLite converter use it); there is no public alias.
from tensorflow.python.framework import convert_to_constants

from retina_tf import LESION_CLASSES
from retina_tf.data import fundus
from retina_tf.evaluation.operating_point import OperatingPoint, default_operating_point
from retina_tf.modeling import lesion_maskrcnn, tiling
from retina_tf.serving.protocol import (
    DEFAULT_SIGNATURE,
    IMAGES_INPUT,
    MAX_BATCH_PHOTOGRAPHS,
    MAX_BATCH_PIXELS,
    MAX_PHOTOGRAPH_PIXELS,
    MAX_PHOTOGRAPH_SIDE,
    NORMALISED_SIGNATURE,
    PHOTOGRAPHS_INPUT,
)


class FundusDetectionModule(detection.DetectionModule):
    """Model Garden's detection export with fundus normalisation and lesion outputs.

    operating_point: the thresholds the signatures report lesions from (default: the paper's 0.35 for
    every type).
    """

    def __init__(self, params, normalisation: fundus.FundusNormalisation,
                 operating_point: OperatingPoint | None = None, **kwargs):
        self._normalisation = normalisation
        self._operating_point = operating_point or default_operating_point()
        kwargs.setdefault("batch_size", None)
        # The model runs at the size it was trained at, or on tiles of the normalised photograph at
        # their own size; Model Garden's preprocessing resizes what it is given to that size.
        self._tiling = params.task.tiling
        self._tiled = tiling.tiled(self._tiling, normalisation.output_size, 2 ** params.task.model.max_level)
        self._model_side = self._tiling.tile_size if self._tiled else normalisation.output_size
        kwargs.setdefault("input_image_size",
                          [self._model_side] * 2 if self._tiled else list(params.task.model.input_size[:2]))
        super().__init__(params, **kwargs)
        self._frozen_forward = None

    def _build_model(self):
        return lesion_maskrcnn.LesionMaskRCNNModel.from_model(super()._build_model())

    def frozen_serve(self, images: tf.Tensor) -> dict:
        """Model Garden's `serve` on uint8 normalised images, with the weights as they are now frozen in.

        Freezes at the first call: load the checkpoint into `model` before.
        """
        if self._frozen_forward is None:
            size = self._model_side
            with tf.init_scope():   # freezing reads the weights' values: eagerly, even while a signature traces
                forward = tf.function(self.serve).get_concrete_function(
                    tf.TensorSpec([None, size, size, 3], tf.uint8))
                frozen = convert_to_constants.convert_variables_to_constants_v2(forward, lower_control_flow=False)
            self._frozen_forward = (frozen, forward.structured_outputs)
        frozen, structure = self._frozen_forward
        outputs = tf.nest.pack_sequence_as(structure, frozen(images))
        for output, original in zip(tf.nest.flatten(outputs), tf.nest.flatten(structure)):
            output.set_shape(original.shape)   # freezing keeps the computation, not the static shapes
        return outputs

    def _detections(self, images: tf.Tensor) -> dict:
        """Model Garden's outputs on normalised images (on their tiles, where tiled), boxes in their pixels."""
        def detect(inputs):
            outputs = self.frozen_serve(inputs)
            scale = tf.tile(outputs["image_info"][:, 2:3, :], [1, 1, 2])   # model input / normalised image
            return {**outputs, "detection_boxes": outputs["detection_boxes"] / scale}

        if not self._tiled:
            return detect(images)
        generator = self.params.task.model.detection_generator
        return tiling.tiled_detections(detect, images, self._tiling, generator.max_num_detections,
                                       generator.nms_iou_threshold)

    def _lesions(self, images: tf.Tensor, geometry: tf.Tensor) -> dict:
        """Detections on normalised images; boxes mapped through each geometry."""
        outputs = self._detections(images)
        boxes = fundus.boxes_to_original(outputs["detection_boxes"], geometry[:, tf.newaxis, :],
                                         self._normalisation.output_size)
        count = tf.cast(outputs["num_detections"], tf.int32)
        slots = tf.shape(boxes)[1]
        valid = tf.range(slots)[tf.newaxis, :] < count[:, tf.newaxis]
        classes = tf.where(valid, tf.cast(outputs["detection_classes"], tf.int32), 0)
        names = tf.gather(tf.constant(("",) + LESION_CLASSES), classes)
        scores = tf.where(valid, outputs["detection_scores"], 0.0)
        point = self._operating_point
        thresholds = tf.constant([point.thresholds[lesion_type] for lesion_type in LESION_CLASSES], tf.float32)
        batch = tf.shape(count)[0]
        return {
            "num_lesions": count,
            "classes": classes,
            "names": names,
            "scores": scores,
            "boxes": tf.where(valid[..., tf.newaxis], boxes, 0.0),
            "masks": outputs["detection_masks"],
            "geometry": geometry,
            "thresholds": tf.tile(thresholds[tf.newaxis], [batch, 1]),
            # class 0 (an empty slot) is never reported
            "reported": scores >= tf.gather(tf.concat([[np.inf], thresholds], 0), classes),
            "chosen_by": tf.fill([batch], point.chosen_by),
        }

    @tf.function
    def inference_from_image_bytes(self, inputs: tf.Tensor):
        size = self._normalisation.output_size
        count = tf.size(inputs, out_type=tf.int64)
        labels = _batch_labels(count)
        with tf.device("cpu:0"):
            with tf.control_dependencies([fundus.check_in_order([
                    (count > 0, "empty request: no photograph", ()),
                    (count <= MAX_BATCH_PHOTOGRAPHS, "request holds {} photographs; at most {} per request",
                     (count, MAX_BATCH_PHOTOGRAPHS))])]):
                sizes = tf.map_fn(
                    lambda item: fundus.photograph_size(item[1], MAX_PHOTOGRAPH_SIDE, MAX_PHOTOGRAPH_PIXELS, item[0]),
                    (labels, inputs), fn_output_signature=tf.TensorSpec([2], tf.int64))
            pixels = tf.reduce_sum(sizes[:, 0] * sizes[:, 1])
            with tf.control_dependencies([fundus.check_in_order([
                    (pixels <= MAX_BATCH_PIXELS, "request holds {} photographs of {} pixels in all; at most {} "
                     "pixels per request", (count, pixels, MAX_BATCH_PIXELS))])]):
                images, geometry = tf.map_fn(   # one photograph at a time: memory follows the largest
                    self._decode_and_normalise, (labels, inputs), parallel_iterations=1,
                    fn_output_signature=(tf.TensorSpec([size, size, 3], tf.uint8), tf.TensorSpec([6], tf.float32)))
        return self._lesions(images, geometry)

    def _decode_and_normalise(self, item):
        label, data = item
        image = fundus.decode_fundus(data, MAX_PHOTOGRAPH_SIDE, MAX_PHOTOGRAPH_PIXELS, label)
        return fundus.normalise_fundus(image, self._normalisation, label)

    @tf.function
    def inference_from_image_tensors(self, inputs: tf.Tensor):
        size = float(self._normalisation.output_size)
        identity = tf.constant([0.0, 0.0, size, size, size, size])
        geometry = tf.tile(identity[tf.newaxis], [tf.shape(inputs)[0], 1])
        return self._lesions(inputs, geometry)

    def signatures(self) -> dict:
        """serving_default (encoded photographs) and normalised (uint8 S x S x 3 images)."""
        size = self._normalisation.output_size
        return {
            DEFAULT_SIGNATURE: self.inference_from_image_bytes.get_concrete_function(
                tf.TensorSpec([None], tf.string, name=PHOTOGRAPHS_INPUT)),
            NORMALISED_SIGNATURE: self.inference_from_image_tensors.get_concrete_function(
                tf.TensorSpec([None, size, size, 3], tf.uint8, name=IMAGES_INPUT)),
        }


def _batch_labels(count: tf.Tensor) -> tf.Tensor:
    """What starts each photograph's refusal: its place, `photographs[i]: `, in a batch of more than one."""
    places = tf.strings.join([f"{PHOTOGRAPHS_INPUT}[", tf.strings.as_string(tf.range(count)), "]: "])
    return tf.where(count > 1, places, tf.fill([count], ""))

