"""One run at a time per home.

A command that runs a pipeline on a home (local, dataflow, watch, monitor
--retrain, batch-predict, rollback, reproduce) holds an exclusive lock on
HOME/.lock while it works; a second one refuses at once (exit 2) with one line
naming the other's pid, command and start time. The lock is the kernel's
(flock), so it goes with its process: a run killed with -9 leaves no stale
lock behind. The file also says which run is under way, which tells a run
that is still working from one that was killed (its executions stay RUNNING
in ML Metadata: `runner runs` shows them as abandoned), and the cause of a run
that failed where ML Metadata could not record it (a full disk).
"""

import contextlib
import datetime
import fcntl
import json
import logging
import os
import time
from typing import IO, Any, Dict, Iterator, Optional

from common.exit_status import ProblemFound, UsageError
from operations.run_history import Activity

LOCK_FILE = '.lock'


def _path(home: str) -> str:
    return os.path.join(home, LOCK_FILE)


def _holder(handle: IO[str]) -> Dict[str, Any]:
    handle.seek(0)
    try:
        return json.loads(handle.read() or '{}')
    except ValueError:
        return {}


def _activity(live: bool, recorded: Dict[str, Any]) -> Activity:
    return Activity(live_run=(recorded.get('run_id') or None) if live else None,
                    failed_run=recorded.get('failed_run') or None,
                    failure=recorded.get('failed') or None)


class HeldLock:
    """The home's lock, held by this process: records which run is under way, and a
    run's failure until ML Metadata holds it (a store on a full disk may not take
    it then; the next run records it there)."""

    def __init__(self, handle: IO[str], holder: Dict[str, Any], previous: Dict[str, Any]):
        self._handle, self._holder = handle, holder
        self.previous = _activity(False, previous)     # what the last holder left
        self._failure = {key: previous[key] for key in ('failed_run', 'failed')
                         if previous.get('failed')}

    def _record(self, run_id: str) -> None:
        """Overwritten in place, then cut to length: never an empty file meanwhile,
        and no new block needed on a full disk."""
        self._handle.seek(0)
        self._handle.write(json.dumps({**self._holder, 'run_id': run_id, **self._failure}))
        self._handle.truncate()
        self._handle.flush()

    def check_held(self) -> None:
        """The kernel's lock: held while this process lives."""

    def working_on(self, run_id: str) -> None:
        self._record(run_id)

    def failed(self, run_id: str, cause: str) -> None:
        self._failure = {'failed_run': run_id, 'failed': cause}
        try:
            self._record(run_id)
        except OSError:
            logging.exception('could not keep the failure of run %s in the home lock', run_id)

    def failure_recorded(self, run_id: str) -> None:
        if self._failure.get('failed_run') == run_id:
            self._failure = {}
            self._record(run_id)


class NoLock:
    """For commands that hold no home: records nothing."""

    previous = Activity()

    def check_held(self) -> None:
        pass

    def working_on(self, run_id: str) -> None:
        pass

    def failed(self, run_id: str, cause: str) -> None:
        pass

    def failure_recorded(self, run_id: str) -> None:
        pass


def _open(home: str) -> IO[str]:
    try:
        os.makedirs(home, exist_ok=True)
        # Read and written in place (not appended to): os.open creates it if needed.
        return os.fdopen(os.open(_path(home), os.O_RDWR | os.O_CREAT, 0o644), 'r+')
    except OSError as error:
        raise UsageError(f'--home {home}: cannot write {_path(home)}: '
                         f'{error.strerror}') from None


# How long a run waits for readers of the lock file (runs, report) to let go of it.
READERS_SECONDS = 1.0


def _locked(handle: IO[str], wait: bool, wait_seconds: Optional[float] = None) -> bool:
    """Takes the lock; False when another process holds it (readers, which hold it
    shared for an instant, are waited for; with `wait`, any holder is, for up to
    `wait_seconds` when given)."""
    started = time.monotonic()
    deadline = started + READERS_SECONDS
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            now = time.monotonic()
            if now > deadline and (not wait or (wait_seconds is not None
                                                and now - started > wait_seconds)):
                return False
            time.sleep(0.05 if now < deadline else 0.5)


def _in_use(home: str, other: Dict[str, Any]) -> str:
    return (f'home {home} is in use by pid {other.get("pid", "?")} (runner '
            f'{other.get("command", "?")}, started {other.get("started", "?")})')


@contextlib.contextmanager
def hold(home: str, command: str, wait: bool = False,
         wait_seconds: Optional[float] = None) -> Iterator[HeldLock]:
    """Holds the home's lock for the block; UsageError when another process holds it
    (with `wait`: once it lets go, as Airflow's tasks of one run take their turns;
    ProblemFound naming the holder if that takes over `wait_seconds`, when given)."""
    handle = _open(home)
    try:
        if not _locked(handle, wait, wait_seconds):
            other = _holder(handle)
            if wait:
                raise ProblemFound(f'waited {wait_seconds:.0f} s for the lock: '
                                   f'{_in_use(home, other)}') from None
            raise UsageError(f'{_in_use(home, other)}: wait for it to finish, or use '
                             'another --home') from None
        holder = {'pid': os.getpid(), 'command': command,
                  'started': datetime.datetime.now().isoformat(timespec='seconds')}
        lock = HeldLock(handle, holder, _holder(handle))
        lock.working_on('')
        yield lock
    finally:
        handle.close()       # releases the lock


def activity(home: str) -> Activity:
    """What the home's lock tells of its runs: the one a live process works on (none
    when nobody holds it: whatever was running is gone), the last one that failed."""
    path = _path(home)
    if not os.path.exists(path):
        return Activity()
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _activity(True, _holder(handle))
        recorded = _holder(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
        return _activity(False, recorded)
