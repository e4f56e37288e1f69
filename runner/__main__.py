"""`python -m runner ...`"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

from runner.cli import entry_point

entry_point()
