"""One run at a time per home.

A command that runs a pipeline on a home (local, dataflow, watch, monitor
--retrain, batch-predict, rollback, reproduce) holds an exclusive lock on
HOME/.lock while it works; a second one refuses at once (exit 2) with one line
naming the other's pid, command and start time. The lock is the kernel's
(flock), so it goes with its process: a run killed with -9 leaves no stale
lock behind. The file also says which run is under way, which tells a run
that is still working from one that was killed (its executions stay RUNNING
in ML Metadata: `runner runs` shows them as abandoned).
"""

import contextlib
import datetime
import fcntl
import json
import os
from typing import IO, Any, Callable, Dict, Iterator, Optional

from common.exit_status import UsageError

LOCK_FILE = '.lock'


def _path(home: str) -> str:
    return os.path.join(home, LOCK_FILE)


def _holder(handle: IO[str]) -> Dict[str, Any]:
    handle.seek(0)
    try:
        return json.loads(handle.read() or '{}')
    except ValueError:
        return {}


@contextlib.contextmanager
def hold(home: str, command: str) -> Iterator[Callable[[str], None]]:
    """Holds the home's lock for the block; UsageError when another process holds it.
    Yields a function that records the run id the holder is working on."""
    os.makedirs(home, exist_ok=True)
    handle = open(_path(home), 'a+')
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _holder(handle)
            raise UsageError(
                f'home {home} is in use by pid {other.get("pid", "?")} (runner '
                f'{other.get("command", "?")}, started {other.get("started", "?")}): '
                'wait for it to finish, or use another --home') from None
        holder = {'pid': os.getpid(), 'command': command,
                  'started': datetime.datetime.now().isoformat(timespec='seconds')}

        def working_on(run_id: str) -> None:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({**holder, 'run_id': run_id}))
            handle.flush()
        working_on('')
        yield working_on
    finally:
        handle.close()       # releases the lock


def active_run(home: str) -> Optional[str]:
    """The run id a live process is working on in this home, if any."""
    path = _path(home)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(handle).get('run_id') or None
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None      # nobody holds it: whatever was running is gone
