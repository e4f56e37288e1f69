"""The process environment, set before TensorFlow loads. Every entry point
(the runner CLI, serving.server, bench scripts, the tests' conftest) imports
this module first; no other module changes os.environ at import.

  TF_USE_LEGACY_KERAS=1   tf.keras is Keras 2 (tf-keras) everywhere, as TFT and
                          TFMA need it (see the README)
  TF_CPP_MIN_LOG_LEVEL=1  TensorFlow's C++ INFO lines off

Values already in the environment win, so a user can still ask for more logs.
The warning filters drop notices that say nothing about this project's code:
google-api-core's Python 3.10 support notice, printed on every import.
"""

import os
import warnings

ENVIRONMENT = {
    'TF_USE_LEGACY_KERAS': '1',
    'TF_CPP_MIN_LOG_LEVEL': '1',
}

for _name, _value in ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.api_core')
