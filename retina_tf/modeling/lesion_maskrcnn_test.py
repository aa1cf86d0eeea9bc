"""The found-detections-only mask head gives Model Garden's outputs where lesions were found."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.configs import backbones, decoders
from official.vision.configs import maskrcnn as maskrcnn_config
from official.vision.modeling import factory

from retina_tf.modeling import lesion_maskrcnn


def _stock(score_threshold):
    config = maskrcnn_config.MaskRCNN(
        num_classes=3, input_size=[128, 128, 3], min_level=2, max_level=5,
        anchor=maskrcnn_config.Anchor(anchor_size=2.0),
        backbone=backbones.Backbone(type="resnet", resnet=backbones.ResNet(model_id=18)),
        decoder=decoders.Decoder(type="fpn", fpn=decoders.FPN(num_filters=32)),
        rpn_head=maskrcnn_config.RPNHead(num_filters=32),
        detection_head=maskrcnn_config.DetectionHead(num_convs=0, num_fcs=1, fc_dims=64),
        mask_head=maskrcnn_config.MaskHead(num_convs=1, num_filters=16),
        detection_generator=maskrcnn_config.DetectionGenerator(
            max_num_detections=16, pre_nms_score_threshold=score_threshold))
    tf_keras.utils.set_random_seed(0)
    model = factory.build_maskrcnn(tf_keras.layers.InputSpec(shape=[None, 128, 128, 3]), config)
    model(tf_keras.Input([128, 128, 3]), image_shape=tf_keras.layers.Input([2]), training=False)
    return model


@pytest.mark.parametrize("score_threshold", [0.0, 0.375, 0.99])   # all, some (3 and 6 here), none
def test_masks_match_model_garden_for_found_detections_and_are_zero_after(score_threshold):
    stock = _stock(score_threshold)
    lesion = lesion_maskrcnn.LesionMaskRCNNModel.from_model(stock)
    images = tf.random.stateless_uniform([2, 128, 128, 3], seed=[1, 2])
    shape = tf.constant([[128.0, 128.0]] * 2)
    expected = stock(images, image_shape=shape, training=False)
    actual = lesion(images, image_shape=shape, training=False)
    for key in ("detection_boxes", "detection_scores", "detection_classes", "num_detections"):
        np.testing.assert_array_equal(actual[key].numpy(), expected[key].numpy())
    assert actual["detection_masks"].shape == expected["detection_masks"].shape
    for image, found in enumerate(expected["num_detections"].numpy()):
        np.testing.assert_allclose(actual["detection_masks"][image, :found], expected["detection_masks"][image, :found],
                                   atol=1e-5)
    most = int(np.max(expected["num_detections"].numpy()))
    if score_threshold == 0.375:
        assert 0 < most < 16, "the premise: some slots found, some not"
    assert not np.any(actual["detection_masks"].numpy()[:, max(most, 1):])
