"""Library noise to a log file, the terminal for people.

While a command works, Python logging, warnings and everything written to the
process's stderr (TensorFlow's and Beam's native logs included) go to its log
file; stdout stays the terminal's, for progress and results.
"""

import contextlib
import logging
import os
import sys
import tempfile
import time
from typing import Iterator, Optional

from absl import logging as absl_logging

_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'


def log_path(command: str, logs_dir: Optional[str]) -> str:
    """logs_dir/<command>-<time>.log; a temporary directory when the command has no home."""
    directory = logs_dir or os.path.join(tempfile.gettempdir(), 'taxi-pipeline-logs')
    return os.path.join(directory, f'{command}-{time.strftime("%Y%m%d-%H%M%S")}.log')


@contextlib.contextmanager
def capture(path: str) -> Iterator[None]:
    """Sends logging, warnings and native stderr to `path` until the block ends."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_stderr = os.dup(2)
    with open(path, 'a') as log_file:
        sys.stderr.flush()
        os.dup2(log_file.fileno(), 2)
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        # Through absl's verbosity flag: TensorFlow saves and restores that flag
        # around SavedModel export, so a plain logger level would be lost.
        saved_verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.INFO)
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            absl_logging.set_verbosity(saved_verbosity)
            root.handlers, root.level = saved_handlers, saved_level
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
