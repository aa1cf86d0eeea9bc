"""An exported model run in this process: the answers TF Serving would give, without a server."""

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from retina_tf.serving import lesion_records, model_base, protocol
from retina_tf.serving.protocol import PhotographRejected
from retina_tf.utils.errors import UserError, describe


class SavedModelPredictor:
    """An exported model loaded in this process: the answers TF Serving would give, without a server.

    Args:
      path: a SavedModel folder, or a model base whose highest version is loaded.

    Attributes:
      path: the version folder loaded.
      metadata: the export's retina_tf.json; {} for a SavedModel without one.
      version: the folder's number; 0 for a folder not named by one.

    Raises:
      UserError: no such folder or no SavedModel there, a SavedModel that does not load, or one without both
        signatures of protocol.SIGNATURES or without the outputs of protocol.OUTPUT_KEYS.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = model_base.version_folder(path)
        try:
            self._model = tf.saved_model.load(str(self.path))
        except Exception as error:
            raise UserError(f"{self.path}: cannot load the SavedModel ({describe(error)})") from error
        missing = [name for name in protocol.SIGNATURES if name not in self._model.signatures]
        if missing:
            raise UserError(f"{self.path}: not a retina-tf export (no signature {', '.join(missing)})")
        for name in protocol.SIGNATURES:
            outputs = self._model.signatures[name].structured_outputs
            if missing := [key for key in protocol.OUTPUT_KEYS if key not in outputs]:
                raise UserError(f"{self.path}: not a retina-tf export (signature {name} lacks the output(s) "
                                f"{', '.join(missing)})")
        self.metadata = model_base.export_metadata(self.path)
        self.version = int(self.path.name) if self.path.name.isdigit() else 0

    @property
    def signatures(self) -> Mapping:
        """The loaded SavedModel's signatures, by name."""
        return self._model.signatures

    def run(self, signature: str, inputs: Mapping[str, tf.Tensor]) -> dict[str, np.ndarray]:
        """One signature call; a refused input becomes PhotographRejected with its one-line reason.

        Args:
          signature: protocol.DEFAULT_SIGNATURE or protocol.NORMALISED_SIGNATURE.
          inputs: {PHOTOGRAPHS_INPUT: [N] string} for the first, {IMAGES_INPUT: [N, S, S, 3] uint8} for the second.

        Returns:
          protocol.OUTPUT_KEYS -> numpy arrays, photograph first; boxes in pixels of the photograph (serving_default)
          or of the S x S image (normalised).

        Raises:
          PhotographRejected: the graph refused an input; the reason names the photograph's place in a batch of
            more than one.
        """
        try:
            outputs = self._model.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:
            reason = describe(error)
            if signature == protocol.DEFAULT_SIGNATURE:
                reason = _place_of_undecodable(reason, inputs[protocol.PHOTOGRAPHS_INPUT])
            raise PhotographRejected(reason) from error
        return {key: value.numpy() for key, value in outputs.items()}

    def predict(self, photographs: Sequence[bytes], names: Sequence[str] | None = None,
                min_score: float | None = None) -> list[lesion_records.PhotographLesions]:
        """Lesions on encoded JPEG/PNG photographs (one batch), in original-photograph pixels; as
        RetinaClient.predict.

        Args:
          photographs: the encoded photographs.
          names: their names in the records (default: numbered).
          min_score: report lesions from this score, whatever their type, instead of the export's operating point.

        Returns:
          One record per photograph, every lesion the model kept, the reported ones marked.

        Raises:
          PhotographRejected: the model refused a photograph or the batch.
          UserError: (without min_score) the model was exported without an operating point.
          ValueError: names and photographs differ in number.
        """
        outputs = self.run(protocol.DEFAULT_SIGNATURE,
                           {protocol.PHOTOGRAPHS_INPUT: tf.constant(list(photographs), tf.string)})
        return lesion_records.batch_lesions(outputs, names, min_score)


def _place_of_undecodable(reason: str, photographs: tf.Tensor) -> str:
    """The reason, starting with `photographs[i]: ` where the graph could not name the photograph.

    The graph names the photograph of every refusal it checks; a decoder's own
    error (a corrupt JPEG behind a valid header) has no place in a batch, so
    the photographs are decoded here one by one, after the graph passed all
    their headers, until one fails.
    """
    named = reason.startswith((f"{protocol.PHOTOGRAPHS_INPUT}[", "request holds"))   # or the request's budget
    if named or photographs.shape.rank != 1 or len(photographs) < 2:
        return reason
    for index, data in enumerate(photographs):
        try:
            tf.io.decode_image(data, expand_animations=False)
        except tf.errors.InvalidArgumentError:
            return f"{protocol.PHOTOGRAPHS_INPUT}[{index}]: {reason}"
    return reason
