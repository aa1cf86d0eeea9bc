"""Mask R-CNN inputs from lesion masks stored as box-sized PNG crops.

Model Garden's Mask R-CNN parser (`maskrcnn_input.Parser`) takes one
full-size mask per instance and resamples each at its box, and its RPN
labeler scores every anchor against every box: both grow with lesions x
photograph area (benchmarks/input_pipeline.py measures it). e_ophtha stores
each lesion's mask cropped to its box. This parser resamples the photograph
once for the whole augmentation (ops.geometry), scores only the anchors
that could change a lesion's match (ops.anchor_labeler), and in training
passes each lesion's crop on as stored, with the map from the augmented
image to it (ops.mask_crops), for the model's mask sampler
(modeling.lesion_mask_sampler) to sample targets at the ROIs: what grows per
lesion is decoding its crop (benchmarks/README.md). Its outputs have the
stock parser's keys, shapes and dtypes except the training `gt_masks`, which
the model of modeling.lesion_maskrcnn reads.
"""

import math
from typing import Sequence

import tensorflow as tf
from official.vision.dataloaders import maskrcnn_input
from official.vision.ops import anchor, box_ops, preprocess_ops

from retina_tf.ops import anchor_labeler, geometry, mask_crops
from retina_tf.ops.geometry import Augmentation


class Parser(maskrcnn_input.Parser):
    """Model Garden's Mask R-CNN parser for lesion masks stored as box-sized PNG crops.

    Reads `groundtruth_instance_mask_pngs` ([N] PNGs, each a lesion's mask
    cropped to its box) where the stock parser reads full-size masks.
    Training augmentation follows the paper: random horizontal and vertical
    flips (aug_rand_hflip, aug_rand_vflip); a quarter turn clockwise or
    counter-clockwise or none (aug_rand_rotate90); translation along y and
    along x independently, each uniform in +-aug_translate_max of the side;
    and scaling along y and along x independently, each by a factor uniform
    in [aug_scale_min, aug_scale_max] about the image centre (the stock
    parser scales both axes by one factor and crops at a random offset).
    The photograph is resampled once, bilinearly, for the augmentation and
    the stock resize to output_size together; pixels brought in from outside
    it get fill_value, the normalised photographs' neutral grey. Boxes move
    exactly and are clipped; lesions whose box leaves the image are dropped,
    all others kept.

    With aug_window_size (height, width) the model trains on a window of
    that size cut at random from the augmented image of output_size, at the
    dataset's full resolution: small lesions keep their pixels, a step costs
    what the window costs, and validation, evaluation and serving still see
    whole photographs at output_size (the network is convolutional up to the
    ROI heads). Lesions cut by the window edge keep their visible part.
    aug_window_lesion_fraction of the windows are placed to hold a lesion
    (one of those in view, each as likely, at a random place in the window),
    the others anywhere: lesions cover a few percent of a fundus, and
    windows placed anywhere mostly teach background, which the rest still do.

    With aug_channel_contrast (low, high) each channel's departure from
    fill_value is multiplied by its own factor, log-uniform in [low, high],
    and clipped: another camera's gamma or colour cast reaches a normalised
    photograph as just that (the normalisation subtracts the local
    background, so a gamma g multiplies a channel's lesion contrast by
    g * background ** (g - 1); benchmarks/README.md measures the factors).

    Training labels differ from the stock parser's in one key: `gt_masks`
    holds the lesions' crops and where they lie (ops.mask_crops), for
    modeling.lesion_mask_sampler to sample the targets at the ROIs;
    max_lesion_mask_pixels bounds one photograph's crops together. Eval
    ground truth leaves out the stock parser's mask targets: the paper's
    metric scores against the stored crops.
    """

    def __init__(self, *args, aug_rand_rotate90: bool = False, aug_translate_max: float = 0.0,
                 aug_window_size: Sequence[int] = (), aug_window_lesion_fraction: float = 0.0,
                 aug_channel_contrast: Sequence[float] = (), fill_value: int = 128,
                 max_lesion_mask_pixels: int = 2**20, **kwargs):
        super().__init__(*args, **kwargs)
        aug_window_size = tuple(aug_window_size or ())
        if aug_window_size and (len(aug_window_size) != 2 or not all(
                0 < side <= limit for side, limit in zip(aug_window_size, self._output_size))):
            raise ValueError(f"aug_window_size is (height, width) within the output size {list(self._output_size)}, "
                             f"or empty for whole images; got {list(aug_window_size)}")
        if not 0 < self._aug_scale_min <= self._aug_scale_max:
            raise ValueError(f"need 0 < aug_scale_min <= aug_scale_max, got "
                             f"{self._aug_scale_min}, {self._aug_scale_max}")
        if not 0 <= aug_translate_max <= 1:
            raise ValueError(f"aug_translate_max is a fraction of the side in [0, 1], got {aug_translate_max}")
        if not 0 <= aug_window_lesion_fraction <= 1:
            raise ValueError(f"aug_window_lesion_fraction is a fraction of the windows in [0, 1], "
                             f"got {aug_window_lesion_fraction}")
        aug_channel_contrast = tuple(aug_channel_contrast or ())
        if aug_channel_contrast and (len(aug_channel_contrast) != 2
                                     or not 0 < aug_channel_contrast[0] <= aug_channel_contrast[1]):
            raise ValueError(f"aug_channel_contrast is (low, high) with 0 < low <= high, or empty for none; "
                             f"got {list(aug_channel_contrast)}")
        self._aug_channel_contrast = aug_channel_contrast
        self._aug_window_lesion_fraction = aug_window_lesion_fraction
        self._aug_rand_rotate90 = aug_rand_rotate90
        self._aug_translate_max = aug_translate_max
        self._aug_window_size = aug_window_size
        self._fill_value = fill_value
        self._max_lesion_mask_pixels = max_lesion_mask_pixels

    def sample_augmentation(self) -> Augmentation:
        """Draws the switched-on transforms with tf.random ops, so each element of a tf.data map gets its own."""
        def coin(enabled):
            return tf.random.uniform([]) < 0.5 if enabled else False

        shift = self._aug_translate_max
        return Augmentation(
            hflip=coin(self._aug_rand_hflip),
            vflip=coin(self._aug_rand_vflip),
            rot90=tf.random.uniform([], -1, 2, tf.int32) if self._aug_rand_rotate90 else 0,
            scale=tf.random.uniform([2], self._aug_scale_min, self._aug_scale_max),
            translate=tf.random.uniform([2], -shift, shift),
            window=tf.random.uniform([2]) if self._aug_window_size else (0.0, 0.0),
            window_lesion=tf.where(tf.random.uniform([]) < self._aug_window_lesion_fraction,
                                   tf.random.uniform([]), -1.0) if self._aug_window_size else -1.0)

    def sample_contrast(self) -> tf.Tensor | None:
        """Each channel's contrast factor, log-uniform in aug_channel_contrast; None when it is off."""
        if not self._aug_channel_contrast:
            return None
        low, high = self._aug_channel_contrast
        return tf.exp(tf.random.uniform([3], math.log(low), math.log(high)))

    def _parse_train_data(self, data):
        return self.parse_train_data(data, self.sample_augmentation(), self.sample_contrast())

    def parse_train_data(self, data, augmentation: Augmentation, contrast=None):
        """The training parse under a given augmentation and per-channel contrast factors (tests force them;
        None leaves the pixels as resampled); outputs as the stock parser's."""
        classes, boxes, mask_pngs = self._training_lesions(data)
        photograph_size = tf.shape(data["image"])[:2]
        to_augmented, augmented_size = geometry.photograph_to_augmented(augmentation, photograph_size)
        crop_boxes = box_ops.denormalize_boxes(boxes, photograph_size)
        image_info, scaled_size, output_size = self._image_info(
            augmented_size, augmentation, geometry.move_boxes(crop_boxes, to_augmented, augmented_size))
        photograph_to_image = geometry.augmented_to_image(image_info) @ to_augmented
        image, padded_size = self._model_image(data["image"], photograph_to_image, scaled_size, output_size,
                                               contrast)
        boxes, kept = self._boxes_in_view(crop_boxes, to_augmented, augmented_size, image_info)
        classes = tf.gather(classes, kept)

        def padded(tensor):
            return preprocess_ops.clip_or_pad_to_fixed_size(tensor, self._max_num_instances, -1)

        labels = {"image_info": image_info, "gt_boxes": padded(boxes), "gt_classes": padded(classes)}
        if self._include_mask:
            outer_boxes = box_ops.compute_outer_boxes(boxes, image_info[1, :], self._outer_boxes_scale)
            labels["gt_outer_boxes"] = padded(outer_boxes)
            labels["gt_masks"] = self._lesion_masks(data, mask_pngs, crop_boxes, kept, photograph_to_image)
        labels.update(self._rpn_labels(padded_size, boxes, classes))
        return tf.cast(image, self._dtype), labels

    def _training_lesions(self, data):
        """The lesions' classes, boxes and mask PNGs, crowd regions left out as the stock parser leaves them."""
        classes = data["groundtruth_classes"]
        boxes = data["groundtruth_boxes"]
        mask_pngs = data["groundtruth_instance_mask_pngs"] if self._include_mask else None
        if self._skip_crowd_during_training:
            not_crowd = tf.where(tf.logical_not(data["groundtruth_is_crowd"]))[:, 0]
            classes = tf.gather(classes, not_crowd)
            boxes = tf.gather(boxes, not_crowd)
            if self._include_mask:
                mask_pngs = tf.gather(mask_pngs, not_crowd)
        return classes, boxes, mask_pngs

    def _image_info(self, augmented_size, augmentation: Augmentation, augmented_boxes):
        """image_info of the augmented image resized into output_size, then of the training window when one is cut.

        augmented_boxes are the lesions' boxes in the augmented image, for a
        window placed on one. Also returns the size the photograph is
        resampled to and the size of the image the model sees (before padding).
        """
        image_info, scaled_size = geometry.resize_info(augmented_size, self._output_size)
        if not self._aug_window_size:
            return image_info, scaled_size, self._output_size
        in_view = tf.gather(augmented_boxes, box_ops.get_non_empty_box_indices(augmented_boxes))
        centres = (in_view[:, :2] + in_view[:, 2:]) / 2 * image_info[2]
        place = geometry.lesion_window_place(centres, scaled_size, self._aug_window_size, augmentation.window,
                                             augmentation.window_lesion)
        image_info, scaled_size = geometry.window_info(image_info, scaled_size, self._aug_window_size, place)
        return image_info, scaled_size, self._aug_window_size

    def _model_image(self, photograph, photograph_to_image, scaled_size, output_size, contrast=None):
        """The photograph distorted (aug_type), resampled once into the model's image, its channels' contrast
        about fill_value scaled (contrast [3], unless None), normalised and padded.

        Padded as the stock parser pads, so that the coarsest pyramid level
        divides it; returns the padded [height, width] too, for the anchors.
        """
        if self._augmenter is not None:
            photograph = self._augmenter.distort(photograph)
        image = geometry.warp_photograph(photograph, photograph_to_image, scaled_size, self._fill_value)
        if contrast is not None:
            grey = self._fill_value / 255
            image = tf.clip_by_value(grey + tf.cast(contrast, tf.float32) * (image - grey), 0.0, 1.0)
        image = preprocess_ops.normalize_image(image)
        padded_size = preprocess_ops.compute_padded_size(output_size, 2**self._max_level)
        return tf.image.pad_to_bounding_box(image, 0, 0, *padded_size), padded_size

    def _boxes_in_view(self, crop_boxes, to_augmented, augmented_size, image_info):
        """The lesions' boxes in the model's image, and which lesions they are: the stock parser drops empty ones.

        Boxes move exactly with the augmentation, then resize and cut with
        the stock arithmetic, so that they match the stock parser's.
        """
        boxes = geometry.move_boxes(crop_boxes, to_augmented, augmented_size)
        boxes = preprocess_ops.resize_and_crop_boxes(boxes, image_info[2, :], image_info[1, :], image_info[3, :])
        kept = box_ops.get_non_empty_box_indices(boxes)
        return tf.gather(boxes, kept), kept

    def _lesion_masks(self, data, mask_pngs, crop_boxes, kept, photograph_to_image):
        """`gt_masks` for the lesions kept; only those that fit in the padded labels need their crop decoded."""
        labelled = kept[:self._max_num_instances]
        return mask_crops.lesion_mask_crops(
            tf.gather(mask_pngs, labelled), tf.cast(tf.round(tf.gather(crop_boxes, labelled)), tf.int32),
            photograph_to_image, self._max_num_instances, self._max_lesion_mask_pixels, data["source_id"])

    def _rpn_labels(self, image_size, boxes, classes):
        """The anchors of the padded image and their RPN targets, from the labeler that scores only overlaps."""
        anchor_boxes = anchor.build_anchor_generator(
            min_level=self._min_level, max_level=self._max_level, num_scales=self._num_scales,
            aspect_ratios=self._aspect_ratios, anchor_size=self._anchor_size,
        )(image_size=image_size)
        labeler = anchor_labeler.OverlapRpnAnchorLabeler(
            anchor_boxes, self._rpn_match_threshold, self._rpn_unmatched_threshold,
            self._rpn_batch_size_per_im, self._rpn_fg_fraction)
        score_targets, box_targets = labeler.label_anchors(
            anchor_boxes, boxes, tf.cast(tf.expand_dims(classes, axis=-1), tf.float32))
        return {"anchor_boxes": anchor_boxes, "rpn_score_targets": score_targets, "rpn_box_targets": box_targets}

    def _parse_eval_data(self, data):
        if not self._include_mask:
            return super()._parse_eval_data(data)
        # The stock parse resamples full-size masks to targets that the
        # paper's metric does not read (it scores against the stored crops):
        # hand it empty ones and leave its targets out.
        count = tf.shape(data["groundtruth_classes"])[0]
        image, labels = super()._parse_eval_data(dict(data, groundtruth_instance_masks=tf.zeros([count, 1, 1])))
        del labels["groundtruths"]["masks"]
        return image, labels
