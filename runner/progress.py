"""The terminal's side of a run: a header, then one line per component with the
seconds it took, as operations.execution reports them.

    Pipeline chicago-taxi, run 2026-12-01T19:52:48.200431, home /.../tfx_home
    Full logs: /.../tfx_home/logs/local-20261201-195248.log
    19:53:02  CsvExampleGen                     19:53:05     3.1 s
    19:53:05  Pusher                            19:53:05     0.0 s  (cached)
"""

import time
from typing import IO


def _now() -> str:
    return time.strftime('%H:%M:%S')


class TerminalProgress:
    """A Progress (operations.execution) that writes lines for people to `out`."""

    def __init__(self, out: IO[str], log_path: str):
        self.out = out
        self.log_path = log_path

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def run_started(self, pipeline: str, run_id: str, home: str) -> None:
        self._write(f'Pipeline {pipeline}, run {run_id}, home {home}\n'
                    f'Full logs: {self.log_path}\n')

    def note(self, line: str) -> None:
        self._write(line + '\n')

    def component_started(self, name: str) -> None:
        self._write(f'{_now()}  {name:<34}')

    def component_finished(self, name: str, seconds: float, cached: bool) -> None:
        self._write(f'{_now()}  {seconds:6.1f} s{"  (cached)" if cached else ""}\n')

    def component_failed(self, name: str) -> None:
        self._write(f'{_now()}  FAILED\n')

    def component_stopped(self, name: str) -> None:
        self._write(f'{_now()}  STOPPED\n')
