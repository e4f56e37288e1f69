"""One line per component on the terminal while a pipeline runs.

LocalDagRunner and its launcher log "Component X is running.", "A cached
execution N is used." and "Component X is finished." through absl; this
handler turns those into start/finish lines with the seconds each took.
"""

import contextlib
import logging
import sys
import time
from typing import IO, List, Optional, Tuple

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
def component_lines(out: IO[str] = None):
    """Prints component lines while the block runs (inside logs.capture); yields the
    handler. What components print themselves (KerasTuner's trial summaries, say)
    goes where their logs go: the terminal is for the component lines."""
    progress = ComponentProgress(out or sys.stdout)
    root = logging.getLogger()
    root.addHandler(progress)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield progress
    finally:
        root.removeHandler(progress)
