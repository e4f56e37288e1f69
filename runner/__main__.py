"""`python -m runner ...`"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

from runner.cli import entry_point

entry_point()
