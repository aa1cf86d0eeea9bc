"""Shared by the serving and command tests: one smoke model exported once per session, loaded once, served once.

The model is untrained: its lesions are arbitrary but shaped right, and
every path (raw bytes, normalised images, local, gRPC, CLI) must give the
same ones.
"""

import dataclasses
import pathlib

import cv2
import numpy as np
import pytest

from retina_tf.configs import SMOKE_CPU
from retina_tf.data import synthetic
from retina_tf.serving import export, grpc_server, model_base
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.serving.protocol import DEFAULT_MODEL_NAME
from retina_tf.testing.serving import untrained_model_dir


@dataclasses.dataclass
class Exported:
    model_dir: pathlib.Path     # params.yaml and one checkpoint
    export_base: pathlib.Path   # <export_base>/retina/1
    version_dir: pathlib.Path


def _encode(image: np.ndarray, extension: str = ".jpg") -> bytes:
    """An RGB photograph as the bytes a camera or a PACS would send."""
    return cv2.imencode(extension, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Exported:
    root = tmp_path_factory.mktemp("serving")
    model_dir = untrained_model_dir([SMOKE_CPU], root / "model")   # its schedule never runs
    version_dir = export.export(model_dir, root / "export")
    return Exported(model_dir, root / "export", version_dir)


@pytest.fixture(scope="session")
def local_predictor(exported):
    return SavedModelPredictor(exported.version_dir)


@dataclasses.dataclass
class Served:
    target: str    # host:port
    version: int   # the version the server loaded


@pytest.fixture(scope="session")
def served(exported) -> Served:
    """`retina-tf serve`'s server on the export, for the whole session."""
    version = int(model_base.version_folder(exported.export_base / DEFAULT_MODEL_NAME).name)
    server, port = grpc_server.start_server(exported.export_base)
    yield Served(f"127.0.0.1:{port}", version)
    server.stop(None)


@pytest.fixture(scope="session")
def photographs() -> list[np.ndarray]:
    """Two small synthetic fundus photographs of different sizes, RGB."""
    rng = np.random.default_rng(7)
    return [synthetic.render_fundus(rng, width, height, exudates=True, microaneurysms=True, cut_off=False).image
            for width, height in ((480, 320), (432, 288))]


@pytest.fixture(scope="session")
def photograph_bytes(photographs) -> list[bytes]:
    """The photographs as a camera or a PACS would send them: one JPEG, one PNG."""
    return [_encode(photographs[0]), _encode(photographs[1], ".png")]


@pytest.fixture(scope="session")
def assert_same_lesions():
    """Compares PhotographLesions from two paths: same lesions, boxes within the 0.1 px rounding."""
    def check(found, expected):
        assert [p.name for p in found] == [p.name for p in expected]
        for one, other in zip(found, expected):
            assert (one.height, one.width, one.geometry) == (other.height, other.width, other.geometry)
            assert [lesion.type for lesion in one.lesions] == [lesion.type for lesion in other.lesions]
            np.testing.assert_allclose([lesion.score for lesion in one.lesions],
                                       [lesion.score for lesion in other.lesions], atol=2e-4)
            np.testing.assert_allclose(np.reshape([lesion.box for lesion in one.lesions], (-1, 4)),
                                       np.reshape([lesion.box for lesion in other.lesions], (-1, 4)), atol=0.11)
            assert one.masks.shape == other.masks.shape
            assert np.mean(one.masks != other.masks) < 1e-3
    return check
