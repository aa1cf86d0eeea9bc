"""The Mask R-CNN task on e_ophtha: Model Garden's task with our decoder, lesion parser and model.

Validation scores what the paper scores: the per-photograph mAP at mask IoU
0.35/0.5/0.75 over the lesion types annotated on each photograph, plus COCO
AP at 256 detections and the lesion FROC (retina_tf.evaluation), at the
dataset's resolution against the exact stored lesion masks; where the dataset
stores the annotation as drawn, also the IDRiD pixel AUPR, at that resolution
too (`retina-tf evaluate` scores it at the original size). At each validation
the first few photographs, annotated | found, go to TensorBoard as images.
"""

import cv2
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging
from official.core import input_reader as core_input_reader
from official.core import task_factory
from official.vision.dataloaders import input_reader, input_reader_factory
from official.vision.ops import preprocess_ops
from official.vision.tasks import maskrcnn

from retina_tf.configs import retina_maskrcnn as config_lib
from retina_tf.data import visualise
from retina_tf.dataloaders import eophtha_decoder, lesion_parser
from retina_tf.evaluation import detections, report
from retina_tf.modeling import lesion_maskrcnn, pretrained, tiling


@task_factory.register_task_cls(config_lib.RetinaMaskRCNNTask)
class RetinaMaskRCNNTask(maskrcnn.MaskRCNNTask):
    """Reads TFDS e_ophtha with the lesion parser; validates with the paper's metric."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pictures = []   # (name, annotated | found) of this validation's first photographs, for TensorBoard

    def build_model(self):
        model = lesion_maskrcnn.LesionMaskRCNNModel.from_model(
            super().build_model(), use_sync_bn=self.task_config.model.norm_activation.use_sync_bn)
        # Model Garden fixes the backbone's and decoder's input at input_size; training windows
        # (parser.aug_window_size) are smaller, and convolutions take any size.
        for network in (model.backbone, model.decoder):
            network.input_spec = None
        model(tf_keras.Input(self.task_config.model.input_size), image_shape=tf_keras.layers.Input([2]),
              training=False)   # builds the subclass, as Model Garden's task does for its model
        return model

    def initialize(self, model):
        """Restores init_checkpoint as Model Garden does, and also finds the backbone (or decoder) under the
        trainer's `model`, so a Model Garden classification checkpoint works as it is; a checkpoint that does not
        fit is refused in one line before training starts (retina_tf.modeling.pretrained).
        """
        modules = pretrained.module_names(self.task_config.init_checkpoint_modules)
        if not self.task_config.init_checkpoint:
            return
        wanted = {"model": model} if modules == ["all"] else {module: getattr(model, module) for module in modules}
        read = pretrained.restore(self.task_config.init_checkpoint, wanted)
        logging.info("Restored %s from %s", ", ".join(modules), read)

    def build_parser(self, params: config_lib.LesionDataConfig) -> lesion_parser.Parser:
        model = self.task_config.model
        parser_config = params.parser
        return lesion_parser.Parser(
            output_size=model.input_size[:2],
            min_level=model.min_level,
            max_level=model.max_level,
            num_scales=model.anchor.num_scales,
            aspect_ratios=model.anchor.aspect_ratios,
            anchor_size=model.anchor.anchor_size,
            rpn_match_threshold=parser_config.rpn_match_threshold,
            rpn_unmatched_threshold=parser_config.rpn_unmatched_threshold,
            rpn_batch_size_per_im=parser_config.rpn_batch_size_per_im,
            rpn_fg_fraction=parser_config.rpn_fg_fraction,
            aug_rand_hflip=parser_config.aug_rand_hflip,
            aug_rand_vflip=parser_config.aug_rand_vflip,
            aug_rand_rotate90=parser_config.aug_rand_rotate90,
            aug_translate_max=parser_config.aug_translate_max,
            aug_scale_min=parser_config.aug_scale_min,
            aug_scale_max=parser_config.aug_scale_max,
            aug_type=config_lib.photometric_augmentation(parser_config),
            aug_window_size=parser_config.aug_window_size,
            aug_window_lesion_fraction=parser_config.aug_window_lesion_fraction,
            aug_channel_contrast=parser_config.aug_channel_contrast,
            fill_value=parser_config.fill_value,
            skip_crowd_during_training=parser_config.skip_crowd_during_training,
            max_num_instances=parser_config.max_num_instances,
            include_mask=model.include_mask,
            outer_boxes_scale=model.outer_boxes_scale,
            max_lesion_mask_pixels=parser_config.max_lesion_mask_pixels,
            dtype=params.dtype,
        )

    def build_inputs(self, params: config_lib.LesionDataConfig, input_context=None, dataset_fn=None):
        parse = self.build_parser(params).parse_fn(params.is_training)
        if not params.is_training:
            parse = _with_exact_ground_truth(parse, params.parser.max_num_instances)
        reader = input_reader_factory.input_reader_generator(
            params,
            dataset_fn=dataset_fn,
            decoder_fn=eophtha_decoder.EophthaDecoder().decode,
            combine_fn=input_reader.create_combine_fn(params),
            parser_fn=parse)
        return reader.read(input_context=input_context, dataset=_repeated_training_split(params, input_context))

    def build_metrics(self, training: bool = True):
        if training:
            return super().build_metrics(training)
        return []   # validation is scored on the CPU in reduce_aggregated_logs

    def validation_step(self, inputs, model, metrics=None):
        images, labels = inputs
        tiling_config = self.task_config.tiling
        if tiling.tiled(tiling_config, images.shape[1], 2 ** self.task_config.model.max_level):
            generator = self.task_config.model.detection_generator
            outputs = tiling.tiled_detections(
                lambda tiles: model(tiles, image_shape=tf.fill([tf.shape(tiles)[0], 2], float(tiles.shape[1])),
                                    training=False),
                images, tiling_config, generator.max_num_detections, generator.nms_iou_threshold)
        else:
            outputs = model(images, anchor_boxes=labels["anchor_boxes"], image_shape=labels["image_info"][:, 1, :],
                            training=False)
        predictions = {key: outputs[key] for key in _PREDICTION_KEYS}
        predictions["image_info"] = labels["image_info"]
        return {self.loss: 0.0, "lesions": (predictions, labels["groundtruths"]), "images": _pixels(images)}

    def aggregate_logs(self, state=None, step_outputs=None):
        if state is None:
            self._pictures = []
        state = state or []
        predictions, groundtruths = step_outputs["lesions"]
        # One tuple entry per replica (Model Garden's local results).
        replicas = len(next(iter(predictions.values())))
        for replica in range(replicas):
            results = detections.batch_results(
                {key: _numpy(value[replica]) for key, value in predictions.items()},
                {key: _numpy(value[replica]) for key, value in groundtruths.items()})
            state.extend(results)
            # Only under a summary writer (orbit's validation summaries), not when engine.evaluate_lib scores.
            if len(self._pictures) < VALIDATION_PICTURES and tf.summary.should_record_summaries():
                images, info = _numpy(step_outputs["images"][replica]), _numpy(predictions["image_info"][replica])
                self._pictures.extend(
                    (f"validation_photographs/{result.image_id}", visualise.result_sheet(
                        _photograph(image, scaled_size, result), result))
                    for image, scaled_size, result in zip(images, info[:, 1], results))
                del self._pictures[VALIDATION_PICTURES:]
        return state

    def reduce_aggregated_logs(self, aggregated_logs, global_step=None):
        for name, picture in self._pictures:
            tf.summary.image(name, picture[np.newaxis], step=global_step)
        self._pictures = []
        return report.headline(report.evaluate(list(aggregated_logs or [])))


_PREDICTION_KEYS = ("detection_boxes", "detection_classes", "detection_scores", "detection_masks", "num_detections")
VALIDATION_PICTURES = 3   # photographs drawn into TensorBoard at each validation


def _pixels(images: tf.Tensor) -> tf.Tensor:
    """The model's input as uint8 RGB again (the parser's normalize_image undone)."""
    pixels = images * preprocess_ops.STDDEV_RGB + preprocess_ops.MEAN_RGB
    return tf.cast(tf.clip_by_value(tf.round(pixels), 0, 255), tf.uint8)


def _photograph(image: np.ndarray, scaled_size, result) -> np.ndarray:
    """The photograph in the padded model input, back at the PhotographResult's resolution."""
    height, width = (int(round(float(side))) for side in scaled_size)
    return cv2.resize(image[:height, :width], (result.width, result.height), interpolation=cv2.INTER_LINEAR)


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value


def _repeated_training_split(params: config_lib.LesionDataConfig, input_context) -> tf.data.Dataset | None:
    """The training split read through once per pass and repeated, instead of Model Garden's TFDS read.

    Model Garden repeats a training split with TFDS's `repeat_filenames`, and that read keeps every example
    it decodes: 3 MB more per IDRiD photograph read at 1024 px (tfds 4.9.10, TensorFlow 2.20), so that the
    IDRiD benchmark's training was killed at 24 GB after 6000 photographs. Read with `cache=True`, which
    there only turns `repeat_filenames` off (files still shuffled, shards still split between workers),
    then repeated, memory stays flat. With cache_photographs the first pass's decoded examples are kept and
    repeated. None (Model Garden reads) for validation or a cached split.
    """
    if not params.is_training or params.cache or not isinstance(params.tfds_name, str) or not params.tfds_name:
        return None
    split = core_input_reader._read_tfds(   # pylint: disable=protected-access
        tfds_name=params.tfds_name, tfds_data_dir=params.tfds_data_dir, tfds_split=params.tfds_split,
        tfds_skip_decoding_feature=params.tfds_skip_decoding_feature, tfds_as_supervised=params.tfds_as_supervised,
        input_context=input_context, seed=params.seed, is_training=True, cache=True,
        cycle_length=params.cycle_length, block_length=params.block_length)
    return (split.cache() if params.cache_photographs else split).repeat()


def _with_exact_ground_truth(parse, max_instances: int):
    """Adds the stored lesion crops, the annotation status and, where the dataset has it, the annotation as
    drawn (for the pixel AUPR) to the eval ground truth."""

    def parse_with_crops(data):
        image, labels = parse(data)
        pngs = data["groundtruth_instance_mask_pngs"][:max_instances]
        labels["groundtruths"]["mask_pngs"] = tf.pad(pngs, [[0, max_instances - tf.shape(pngs)[0]]])
        labels["groundtruths"]["annotation"] = data["annotation"]
        if "lesion_pixels" in data:
            labels["groundtruths"]["lesion_pixels"] = data["lesion_pixels"]
        return image, labels

    return parse_with_crops
