"""The exported model on a real, full-size photograph: IDRiD_04, 4288x2848 JPEG as read from disk.

The smoke model is untrained, so its lesions are arbitrary: what is checked
is the contract every consumer relies on (answers in the original
photograph's pixels, the very normalisation of `retina_tf.data.fundus`, the same
lesions locally and over gRPC) on a camera's photograph whose disc is cut
at top and bottom, which the synthetic photographs of the other tests are not.
"""

import numpy as np
import pytest
import tensorflow as tf

from retina_tf.data import fundus
from retina_tf.serving import lesion_records
from retina_tf.serving.client import RetinaClient

NAME = "IDRiD_04.jpg"   # the most cut-off disc of the four: 478 rows rebuilt above the photograph
HEIGHT, WIDTH = 2848, 4288


@pytest.fixture(name="photograph", scope="module")
def fixture_photograph(real_fundus_dir) -> bytes:
    """The JPEG bytes exactly as a camera or a PACS would send them."""
    return (real_fundus_dir / "e_optha_EX" / "EX" / "P04" / NAME).read_bytes()


@pytest.fixture(name="found", scope="module")
def fixture_found(local_predictor, photograph):
    """The local predictor's answer, computed once for the module."""
    [record] = local_predictor.predict([photograph], [NAME])
    return record


def test_lesions_are_in_the_original_photographs_pixels(found):
    """Masks, areas and centres describe the 4288x2848 photograph, not the normalised square."""
    assert (found.name, found.height, found.width) == (NAME, HEIGHT, WIDTH)
    assert found.lesions, "the smoke model found nothing: the checks below would be vacuous"
    assert found.masks.shape == (len(found.lesions), HEIGHT, WIDTH) and found.masks.dtype == bool
    for lesion, mask in zip(found.lesions, found.masks):
        # The record's boxes are rounded to 0.1 px, the masks pasted at whole pixels of the unrounded box.
        ymin, xmin = np.floor(lesion.box[:2]).astype(int)
        ymax, xmax = np.ceil(lesion.box[2:]).astype(int)
        assert ymin < ymax and xmin < xmax, lesion
        assert lesion.area == int(mask.sum())
        assert mask[max(ymin, 0):ymax, max(xmin, 0):xmax].sum() == lesion.area, f"mask outside its box {lesion.box}"
        box = np.array(lesion.box)
        np.testing.assert_allclose(lesion.centre, (box[:2] + box[2:]) / 2, atol=0.11)


def test_boxes_stay_inside_the_photograph(found):
    """A lesion is on the photograph: no box may reach into the rows rebuilt above or below it.

    IDRiD's disc is cut at top and bottom, so the normalised square holds 478
    rows above and 471 below the photograph (filled, not photographed) that a
    box of the model can reach.
    """
    outside = [lesion.box for lesion in found.lesions
               if min(lesion.box[:2]) < 0 or lesion.box[2] > HEIGHT or lesion.box[3] > WIDTH]
    assert not outside, (f"{len(outside)} of {len(found.lesions)} boxes leave the {WIDTH}x{HEIGHT} photograph: "
                         f"{outside[:5]}")


def test_the_export_normalises_as_retina_tf_fundus_does(local_predictor, photograph, found, assert_same_lesions):
    """The in-graph decoding and normalisation give the geometry, and the lesions, of the library's own.

    The library's normalised image through the `normalised` signature, its
    boxes mapped with `boxes_to_original`, must give what the raw JPEG gave.
    """
    size = local_predictor.metadata["normalisation"]["output_size"]
    image, geometry = fundus.normalise_fundus(fundus.decode_fundus(tf.constant(photograph)),
                                              fundus.FundusNormalisation(output_size=size))
    np.testing.assert_array_equal(found.geometry, geometry.numpy())
    assert found.geometry[0] < 0 and found.geometry[2] > HEIGHT, "the cut-off disc is rebuilt in the graph too"
    outputs = {key: value[0] for key, value in local_predictor.run("normalised", {"images": image[tf.newaxis]}).items()}
    outputs["boxes"] = fundus.boxes_to_original(outputs["boxes"], geometry, size).numpy()
    outputs["geometry"] = geometry.numpy()
    assert_same_lesions([lesion_records.photograph_lesions(outputs, NAME)], [found])


def test_the_grpc_client_gets_the_same_lesions(served, photograph, found, assert_same_lesions):
    """A 400 kB, 12-megapixel photograph through `retina-tf serve`: the local predictor's answer."""
    with RetinaClient(served.target) as client:
        answer = client.predict([photograph], [NAME])
    assert_same_lesions(answer, [found])
