"""Mask R-CNN trained from lesion crops, whose inference cost follows the lesions found.

In training, the mask targets come from the lesion parser's crops through
modeling.lesion_mask_sampler instead of Model Garden's resampled targets.

Model Garden's Mask R-CNN runs the mask head on every detection slot (256 in
the paper's configuration) whether or not a detection passed the score
threshold; a photograph usually has a handful of lesions. At inference this
subclass runs the mask head only on the first max(num_detections) slots of
the batch (detections come sorted by score) and pads the rest with zeros, so
every output keeps its shape and every consumer is unchanged.
"""

import tensorflow as tf
from official.vision.modeling import maskrcnn_model
from official.vision.modeling.heads import instance_heads

from retina_tf.modeling import lesion_mask_sampler


class LesionMaskRCNNModel(maskrcnn_model.MaskRCNNModel):
    """MaskRCNNModel with mask targets from lesion crops and masks computed for found detections only."""

    @classmethod
    def from_model(cls, model: maskrcnn_model.MaskRCNNModel, use_sync_bn: bool = False) -> "LesionMaskRCNNModel":
        """The same layers (and weights) as a Model Garden-built model, with the lesion mask sampler.

        use_sync_bn: the mask head's batch norm synchronised across replicas too (Model Garden's
        build_maskrcnn gives it to every other head but not to the mask head); a new, unbuilt mask head.
        """
        config = dict(model.get_config())
        if use_sync_bn and config.get("mask_head") is not None:
            config["mask_head"] = instance_heads.MaskHead(**{**config["mask_head"].get_config(), "use_sync_bn": True})
        if config.get("mask_sampler") is not None:
            config["mask_sampler"] = lesion_mask_sampler.LesionMaskSampler(**config["mask_sampler"].get_config())
        return cls(**config)

    def _call_mask_outputs(self, model_box_outputs, features, current_rois, matched_gt_indices,
                           matched_gt_boxes, matched_gt_classes, gt_masks, training=None):
        if training:
            return super()._call_mask_outputs(model_box_outputs, features, current_rois, matched_gt_indices,
                                              matched_gt_boxes, matched_gt_classes, gt_masks, training)
        outputs = dict(model_box_outputs)
        boxes = outputs["detection_boxes" if self.outer_boxes_scale == 1.0 else "detection_outer_boxes"]
        batch, slots = tf.shape(boxes)[0], tf.shape(boxes)[1]
        found = tf.clip_by_value(tf.reduce_max(outputs["num_detections"]), 1, slots)
        roi_features = self.mask_roi_aligner(features, boxes[:, :found])
        # Model Garden's mask head needs a static ROI count: give it one ROI
        # per row and the found ROIs as rows (each ROI is computed alone anyway).
        _, _, height, width, channels = roi_features.shape
        rows = tf.reshape(roi_features, [-1, 1, height, width, channels])
        classes = tf.reshape(outputs["detection_classes"][:, :found], [-1, 1])
        mask_probs = tf.sigmoid(self.mask_head([rows, classes]))
        mask_probs = tf.reshape(mask_probs, [batch, found, mask_probs.shape[2], mask_probs.shape[3]])
        outputs["detection_masks"] = tf.pad(mask_probs, [[0, 0], [0, slots - found], [0, 0], [0, 0]])
        return outputs
