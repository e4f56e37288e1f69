"""Library noise to a log file, the terminal for people.

While a command works, Python logging, warnings and everything written to the
process's stderr (TensorFlow's and Beam's native logs included) go to its log
file; stdout stays the terminal's, for progress and results.
"""

import contextlib
import io
import logging
import os
import re
import signal
import sys
import tempfile
import time
from typing import IO, Callable, Iterator, Optional

from absl import logging as absl_logging

from runner.stopping import SIGNALS

_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
# A password as a library may log one: a proto's field, or `password=...`.
_PASSWORD = re.compile(r'(password\s*[:=]\s*)("(?:[^"\\]|\\.)*"|\S+)')


class Redacted(logging.Filter):
    """Masks passwords in what libraries log: TFX logs ML Metadata's connection
    config, and a store URL's password goes in it (pipeline/mlmd.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if 'password' in message:
            record.msg, record.args = _PASSWORD.sub(r'\1"***"', message), None
        return True


def log_path(command: str, logs_dir: Optional[str]) -> str:
    """logs_dir/<command>-<time>.log; a temporary directory when the command has no home."""
    directory = logs_dir or os.path.join(tempfile.gettempdir(), 'taxi-pipeline-logs')
    return os.path.join(directory, f'{command}-{time.strftime("%Y%m%d-%H%M%S")}.log')


class Capture:
    """A log being written; `incomplete` says why its end was lost, if it was (a
    full disk: the command's own outcome says more)."""

    def __init__(self) -> None:
        self.incomplete: Optional[str] = None


@contextlib.contextmanager
def capture(path: str) -> Iterator[Capture]:
    """Sends logging, warnings and native stderr to `path` until the block ends;
    lines go to the file as they come."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_stderr = os.dup(2)
    captured = Capture()
    log_file = open(path, 'a', buffering=1)
    handler = logging.StreamHandler(log_file)
    try:
        sys.stderr.flush()
        os.dup2(log_file.fileno(), 2)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(Redacted())
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        # Through absl's verbosity flag: TensorFlow saves and restores that flag
        # around SavedModel export, so a plain logger level would be lost.
        saved_verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.INFO)
        logging.captureWarnings(True)
        try:
            yield captured
        finally:
            # A stop (SIGINT, SIGTERM) waits until the terminal has its stderr back.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            logging.captureWarnings(False)
            absl_logging.set_verbosity(saved_verbosity)
            root.handlers, root.level = saved_handlers, saved_level
            _flushed(sys.stderr, captured)
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    finally:
        _detach(handler)
        _ended(log_file.close, captured)


class _Nowhere(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _detach(handler: logging.StreamHandler) -> None:
    """A record a library's thread still emits through the handler as the command ends
    (Beam's job-state thread) goes nowhere: written to the closed log, it made logging
    print '--- Logging error ---' on the terminal as the process exited."""
    handler.acquire()
    try:
        handler.stream = _Nowhere()
    finally:
        handler.release()


def _flushed(stream: IO[str], captured: Capture) -> None:
    _ended(stream.flush, captured)


def _ended(write: Callable[[], None], captured: Capture) -> None:
    """Writes what is buffered for the log (a flush, the close); on a full disk the
    log loses its end, which `captured` records."""
    try:
        write()
    except OSError as error:
        captured.incomplete = error.strerror


def remove_if_empty(path: str) -> None:
    """A log that received nothing is not kept."""
    if os.path.exists(path) and os.path.getsize(path) == 0:
        os.remove(path)
