"""Imports everything that registers with Model Garden and TFDS, as Model Garden projects do."""

import tfds_eophtha  # noqa: F401  registers e_ophtha and idrid with TFDS
from retina_tf.configs import retina_maskrcnn as _configs  # noqa: F401  exp_factory: retina_maskrcnn
from retina_tf.tasks import retina_maskrcnn as _tasks  # noqa: F401  task_factory
