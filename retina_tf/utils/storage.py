"""Folders that may be local or in object storage (gs://, s3:// with TensorFlow's plug-in): one pathlib-like type.

Every option that names a model dir, data dir, export base, checkpoint,
SavedModel or output folder takes `path` as its argparse type: a URL stays
as given (pathlib.Path would turn gs://bucket/run into gs:/bucket/run and
create a local folder named gs:), a local path gets ~ expanded. The library
reads and writes through etils.epath, which reaches object storage through
tf.io.gfile and local folders through the os module. Light on purpose: the
command line imports it for --help.
"""

import os

from etils import epath


def path(text: str | os.PathLike) -> epath.Path:
    text = os.fspath(text)
    return epath.Path(text if is_object_storage(text) else os.path.expanduser(text))


def is_object_storage(location: str | os.PathLike) -> bool:
    """True for a URL (gs://, s3://, ...): no atomic rename of a folder there, and writes cost requests."""
    return "://" in os.fspath(location)
