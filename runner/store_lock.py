"""One run at a time on a store a team shares.

With --metadata naming a PostgreSQL store, a command that runs a pipeline holds
its home's lock (runner/home_lock.py: one run per home, and the cause of a
failure the store could not take) and a PostgreSQL advisory lock: a session
lock, on a connection of its own, held for the whole run. A second run, from
any home on any machine, waits for it and names the holder, as the holder
recorded itself in a small table beside ML Metadata's (HOLDERS): who, on which
machine, which process and command, since when, and the run under way, which
`runner runs` reads to tell a live run from an abandoned one. The lock is the
server's: a holder that crashes loses its connection and, with it, the lock. A
server that restarts drops it too: the holder finds out before its next
component and stops there (operations.execution.LockLost), so that two runs
never push at once.
"""

import contextlib
import datetime
import getpass
import json
import logging
import os
import socket
import time
from typing import Any, Dict, Iterator, Optional

from common.exit_status import ProblemFound
from operations.execution import LockLost, RunLock
from operations.run_history import Activity
from pipeline import postgres
from pipeline.store_url import Store
from runner import home_lock

# The advisory lock's key (any fixed number: advisory locks are per database).
LOCK_KEY = 27027
HOLDERS = 'taxi_run_lock'      # one row: the holder and the run under way
POLL_SECONDS = 1.0
# A holder records itself just after it takes the lock: how long a waiter gives it
# before saying it waits for an unnamed holder.
UNNAMED_SECONDS = 3.0

_HOLDER = f'''SELECT holder, run_id FROM {HOLDERS} h
JOIN pg_locks l ON l.pid = h.backend_pid
WHERE h.id = 1 AND l.locktype = 'advisory' AND l.granted AND l.classid = 0
  AND l.objid = {LOCK_KEY} AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())'''
_HELD = f'''SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
  AND classid = 0 AND objid = {LOCK_KEY} AND objsubid = 1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())'''
_CREATE = f'''CREATE TABLE IF NOT EXISTS {HOLDERS} (
  id integer PRIMARY KEY, backend_pid integer NOT NULL, holder text NOT NULL,
  run_id text NOT NULL DEFAULT '')'''
_RECORD = f'''INSERT INTO {HOLDERS} (id, backend_pid, holder) VALUES (1, pg_backend_pid(), :holder)
ON CONFLICT (id) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder,
  run_id = '' '''


def _holder_record(command: str) -> Dict[str, Any]:
    return {'user': getpass.getuser(), 'host': socket.gethostname(), 'pid': os.getpid(),
            'command': command,
            'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds')}


def describe(holder: Dict[str, Any]) -> str:
    """A holder for people: `runner local by alice on laptop-3, pid 4242, since ...`."""
    return (f'runner {holder.get("command", "?")} by {holder.get("user", "?")} on '
            f'{holder.get("host", "?")}, pid {holder.get("pid", "?")}, since '
            f'{holder.get("started", "?")}')


def _recorded(connection: Any) -> Optional[Dict[str, Any]]:
    """The live holder's record (holder fields and run_id); None when nobody holds the
    lock, or the holder has not recorded itself yet."""
    if connection.run(f"SELECT to_regclass('{HOLDERS}') IS NOT NULL")[0][0] is not True:
        return None
    rows = connection.run(_HOLDER)
    if not rows:
        return None
    holder, run_id = rows[0]
    return {**json.loads(holder), 'run_id': run_id}


def _held_by_someone(connection: Any) -> bool:
    return bool(connection.run(_HELD)[0][0])


class StoreLock:
    """The home's lock and the store's, held: the store's row says which run is under
    way; failures are kept in the home's lock (the store may be what failed)."""

    def __init__(self, store: Store, connection: Any, home: home_lock.HeldLock):
        self.store, self._connection, self._home = store, connection, home
        self.previous = home.previous

    def check_held(self) -> None:
        try:
            self._connection.run('SELECT 1')
        except Exception as error:   # whatever the driver raises for a connection gone
            logging.info('the lock connection to %s failed: %r', self.store, error)
            raise LockLost(
                f'its lock on ML Metadata store {self.store} went with its connection (the '
                'server restarted, or the network broke) and another run may hold it now; '
                'run it again: it resumes from the cache') from None

    def working_on(self, run_id: str) -> None:
        self._home.working_on(run_id)
        try:
            self._connection.run(f'UPDATE {HOLDERS} SET run_id = :run_id WHERE id = 1',
                                 run_id=run_id)
        except Exception:     # the run goes on; check_held stops it if the lock went
            logging.exception('could not record run %s as under way in %s', run_id, self.store)

    def failed(self, run_id: str, cause: str) -> None:
        self._home.failed(run_id, cause)

    def failure_recorded(self, run_id: str) -> None:
        self._home.failure_recorded(run_id)


def _try(connection: Any) -> bool:
    return connection.run(f'SELECT pg_try_advisory_lock({LOCK_KEY})')[0][0] is True


def _wait_line(store: Store, holder: Optional[Dict[str, Any]]) -> str:
    who = describe(holder) if holder else 'its holder has not recorded itself'
    return (f'Waiting for ML Metadata store {store}: a run is under way there ({who}); '
            'Ctrl-C stops waiting')


def _acquire(store: Store, command: str, wait_seconds: Optional[float] = None) -> Any:
    """A connection that holds the store's lock, once the holder (if any) lets go;
    the waiting is said once per holder, named as soon as it recorded itself.
    StoreFault if the server cannot be used; ProblemFound naming the holder after
    `wait_seconds`, when given."""
    connection = postgres.connect(store, application=f'taxi-pipeline {command} lock')
    told: Optional[str] = None
    started = time.monotonic()
    while True:
        try:
            if _try(connection):
                return connection
            holder = _recorded(connection)
            if wait_seconds is not None and time.monotonic() - started > wait_seconds:
                postgres.close(connection)
                who = describe(holder) if holder else 'its holder has not recorded itself'
                raise ProblemFound(f'waited {wait_seconds:.0f} s for the lock of ML Metadata '
                                   f'store {store}: a run is under way there ({who})')
            line = _wait_line(store, holder) if holder or \
                time.monotonic() - started > UNNAMED_SECONDS else told
        except Exception as error:
            if not postgres.is_driver_error(error):
                raise
            if not postgres.is_disconnect(error):
                raise postgres.fault(store, error) from error
            connection = postgres.connect(store, application=f'taxi-pipeline {command} lock')
            continue
        if line is not None and line != told:
            print(line, flush=True)
            told = line
        time.sleep(POLL_SECONDS)


def _record_holder(store: Store, connection: Any, command: str) -> None:
    """Who holds the lock now, in HOLDERS (made by the first holder); StoreFault if
    the role may not."""
    try:
        connection.run(_CREATE)
        connection.run(_RECORD, holder=json.dumps(_holder_record(command)))
    except Exception as error:
        if not postgres.is_driver_error(error):
            raise
        raise postgres.fault(store, error) from error


@contextlib.contextmanager
def hold(home: str, store: Optional[Store], command: str, wait: bool = False,
         wait_seconds: Optional[float] = None) -> Iterator[RunLock]:
    """Holds the home's lock (UsageError at once if another process holds it, unless
    `wait`) and, for runs recorded in a shared store, the store's (waiting for its
    holder) for the block; ProblemFound naming the holder when either takes over
    `wait_seconds` (when given)."""
    started = time.monotonic()
    with home_lock.hold(home, command, wait, wait_seconds) as held_home:
        if store is None:
            yield held_home
            return
        left = None if wait_seconds is None else \
            max(0.0, wait_seconds - (time.monotonic() - started))
        connection = _acquire(store, command, left)
        try:
            _record_holder(store, connection, command)
            yield StoreLock(store, connection, held_home)
        finally:
            postgres.close(connection)   # the server lets go of the lock


def holder(store: Store) -> Optional[Dict[str, Any]]:
    """Who holds the store's lock now (None: nobody), as the holder recorded itself;
    {} when a holder has not recorded itself yet."""
    with postgres.session(store, application='taxi-pipeline reader') as connection:
        if not _held_by_someone(connection):
            return None
        return _recorded(connection) or {}


def activity(home: str, store: Optional[Store]) -> Activity:
    """What the locks tell of the runs: on a shared store, the run its lock's holder
    works on (none when nobody holds it: whatever was running is gone); from the
    home's lock, the last run that failed here."""
    local = home_lock.activity(home)
    if store is None:
        return local
    live = holder(store)
    return Activity(live_run=(live or {}).get('run_id') or None, failed_run=local.failed_run,
                    failure=local.failure)
