"""The `retina-tf` command line: one module per subcommand, each its arguments and a call into the library.

Command modules import only the standard library at the top; each loads the
library (TensorFlow with it) inside `run`, so `retina-tf --help` answers at once.
"""
