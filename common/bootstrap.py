"""The process environment, set before TensorFlow loads. Every entry point
(the runner CLI, serving.server, bench scripts, the tests' conftest) imports
this module first; no other module changes os.environ at import.

  TF_USE_LEGACY_KERAS=1   tf.keras is Keras 2 (tf-keras) everywhere, as TFT and
                          TFMA need it (see the README)
  TF_CPP_MIN_LOG_LEVEL=1  TensorFlow's C++ INFO lines off
  TF_ENABLE_ONEDNN_OPTS=0 in the model server only (for_model_server, below)

Values already in the environment win, so a user can still ask for more logs.
The warning filters drop notices that say nothing about this project's code:
google-api-core's Python 3.10 support notice, printed on every import.
"""

import os
import sys
import warnings

ENVIRONMENT = {
    'TF_USE_LEGACY_KERAS': '1',
    'TF_CPP_MIN_LOG_LEVEL': '1',
}

for _name, _value in ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.api_core')

# The model server's own setting (serving.server calls for_model_server() before
# TensorFlow loads). oneDNN's kernels keep what a large batch allocated: measured
# on the taxi model, 14 concurrent batches of 100k examples left the process at
# 1.7-2.3 GB after malloc_trim, against 0.8-0.95 GB without oneDNN (start:
# 0.57 GB), at 0-20% more time per batch. A value already set wins.
MODEL_SERVER_ENVIRONMENT = {'TF_ENABLE_ONEDNN_OPTS': '0'}


def for_model_server() -> bool:
    """Sets the model server's environment; False when TensorFlow is loaded already
    (too late for it to apply)."""
    if 'tensorflow' in sys.modules:
        return False
    for name, value in MODEL_SERVER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return True
