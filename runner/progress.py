"""One line per component on the terminal; everything else to a log file.

LocalDagRunner and its launcher log "Component X is running.", "A cached
execution N is used." and "Component X is finished." through absl; this
handler turns those into start/finish lines with the seconds each took.
"""

import contextlib
import logging
import os
import sys
import time
from typing import IO, List, Optional, Tuple

from absl import logging as absl_logging

_RUNNING = 'Component %s is running.'
_FINISHED = 'Component %s is finished.'
_CACHED = 'A cached execution %d is used.'


class ComponentProgress(logging.Handler):
    """Writes `HH:MM:SS  Component ... HH:MM:SS  12.3 s [cached]` per component."""

    def __init__(self, out: IO[str]):
        super().__init__(logging.INFO)
        self.out = out
        self.current: Optional[str] = None
        self.timings: List[Tuple[str, float, bool]] = []
        self._started = 0.0
        self._cached = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            self.current, self._started, self._cached = record.args[0], time.time(), False
            self.out.write(f'{time.strftime("%H:%M:%S")}  {self.current:<34}')
            self.out.flush()
        elif record.msg == _CACHED:
            self._cached = True
        elif record.msg == _FINISHED and self.current:
            seconds = time.time() - self._started
            self.timings.append((self.current, seconds, self._cached))
            cached = '  (cached)' if self._cached else ''
            self.out.write(f'{time.strftime("%H:%M:%S")}  {seconds:6.1f} s{cached}\n')
            self.out.flush()
            self.current = None

    def fail(self) -> None:
        """Ends the line of the component that was running when the run failed."""
        if self.current:
            self.out.write(f'{time.strftime("%H:%M:%S")}  FAILED\n')
            self.out.flush()


@contextlib.contextmanager
def quiet_logs(log_path: str):
    """Sends Python logging, warnings and native (TF, Beam) stderr to log_path;
    yields a ComponentProgress that prints to the terminal's stdout."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_stderr = os.dup(2)
    progress = ComponentProgress(sys.stdout)
    with open(log_path, 'a') as log_file:
        sys.stderr.flush()
        os.dup2(log_file.fileno(), 2)
        file_handler = logging.StreamHandler(log_file)
        file_handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
        root.handlers = [file_handler, progress]
        root.setLevel(logging.INFO)
        # Through absl's verbosity flag: TensorFlow saves and restores that
        # flag around SavedModel export, so a plain logger level would be lost.
        saved_verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.INFO)
        logging.captureWarnings(True)
        try:
            yield progress
        finally:
            logging.captureWarnings(False)
            absl_logging.set_verbosity(saved_verbosity)
            root.handlers, root.level = saved_handlers, saved_level
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
