"""A PostgreSQL server on this machine to hold ML Metadata: `make store` and
`make store-stop` (`python -m runner store start|stop`), and the tests' own.

PostgreSQL 15 from Debian's package (BIN_DIR), its data in a directory of its
own outside the repository: TAXI_STORE_DIR, else the cache,
${XDG_CACHE_HOME:-~/.cache}/taxi-pipeline/store. PostgreSQL refuses to run as
root: as root it runs as the `postgres` user, with its data in that user's
cache (/root is closed to others). It listens on 127.0.0.1 only, on
TAXI_STORE_PORT (DEFAULT_PORT, beside PostgreSQL's own 5432), trusts
connections from this machine (a team's server sets its own authentication),
and holds DATABASE, the database ML Metadata uses. Starting one that runs and
stopping one that does not are no-ops.
"""

import dataclasses
import os
import pwd
import shutil
import stat
import subprocess
import time
from typing import List, Mapping, Optional, Sequence

from common.exit_status import UsageError
from operations import local_processes
from pipeline import postgres
from pipeline.store_url import POSTGRESQL, Store

BIN_DIR = '/usr/lib/postgresql/15/bin'
DEFAULT_PORT = 54329
DATABASE = 'mlmd'
SUPERUSER = 'postgres'            # the role initdb makes, and the user the server runs as
PORT_ENV, DIR_ENV = 'TAXI_STORE_PORT', 'TAXI_STORE_DIR'
START_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class LocalServer:
    """A PostgreSQL server on 127.0.0.1:port with its data, socket and log under
    directory."""

    directory: str
    port: int = DEFAULT_PORT

    @property
    def data_dir(self) -> str:
        return os.path.join(self.directory, 'data')

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, 'server.log')

    def store(self, database: str = DATABASE) -> Store:
        return Store(POSTGRESQL, host='127.0.0.1', port=self.port, user=SUPERUSER,
                     database=database)


def _as_root() -> bool:
    return os.geteuid() == 0


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f'{where}{text} is not a port number (1-65535)')
    return int(text)


def default_server(directory: Optional[str] = None, port: Optional[int] = None,
                   environ: Optional[Mapping[str, str]] = None) -> LocalServer:
    """The server `make store` starts: in directory (else TAXI_STORE_DIR, else the
    cache), on port (else TAXI_STORE_PORT, else DEFAULT_PORT); UsageError for a
    port that is no port number."""
    environ = os.environ if environ is None else environ
    number = _port(str(port), '--port ') if port is not None else \
        _port(environ.get(PORT_ENV) or str(DEFAULT_PORT), f'{PORT_ENV}=')
    directory = directory or environ.get(DIR_ENV)
    if directory:
        return LocalServer(os.path.abspath(directory), number)
    home = pwd.getpwnam(SUPERUSER).pw_dir if _as_root() else os.path.expanduser('~')
    cache = os.path.join(home, '.cache') if _as_root() else \
        environ.get('XDG_CACHE_HOME') or os.path.join(home, '.cache')
    return LocalServer(os.path.join(cache, 'taxi-pipeline', 'store'), number)


def installed() -> bool:
    return all(os.access(os.path.join(BIN_DIR, name), os.X_OK)
               for name in ('initdb', 'pg_ctl', 'postgres'))


def _command(name: str, *args: str) -> List[str]:
    """A PostgreSQL program's command line, as the `postgres` user when we are root."""
    command = [os.path.join(BIN_DIR, name), *args]
    return ['runuser', '-u', SUPERUSER, '--', *command] if _as_root() else command


def _run(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(_command(name, *args), capture_output=True, text=True, check=check,
                          timeout=START_SECONDS + 30, stdin=subprocess.DEVNULL)


def _closed_to_server_user(directory: str) -> Optional[str]:
    """The first directory above `directory` that the `postgres` user cannot pass
    through (None when it can reach it)."""
    user = pwd.getpwnam(SUPERUSER)
    parent = os.path.dirname(os.path.abspath(directory))
    while True:
        mode = os.stat(parent)
        allowed = (stat.S_IXUSR if mode.st_uid == user.pw_uid else
                   stat.S_IXGRP if mode.st_gid == user.pw_gid else stat.S_IXOTH)
        if not mode.st_mode & allowed:
            return parent
        if parent == os.path.dirname(parent):
            return None
        parent = os.path.dirname(parent)


def _prepared(server: LocalServer) -> None:
    """The server's directory, owned by the user it runs as, and its data initialised."""
    if not installed():
        raise UsageError(f'PostgreSQL 15 is not installed (no {BIN_DIR}/initdb): '
                         'apt-get install postgresql-15')
    os.makedirs(server.directory, mode=0o700, exist_ok=True)
    if _as_root():
        closed = _closed_to_server_user(server.directory)
        if closed is not None:
            raise UsageError(f'{server.directory}: PostgreSQL runs as the {SUPERUSER} user, '
                             f'which cannot reach it ({closed} is closed to others): give '
                             f'{DIR_ENV} a directory outside {closed}')
        shutil.chown(server.directory, SUPERUSER, SUPERUSER)
    if os.path.exists(os.path.join(server.data_dir, 'PG_VERSION')):
        return
    made = _run('initdb', '-D', server.data_dir, '-A', 'trust', '-U', SUPERUSER,
                '-E', 'UTF8', '--no-instructions', check=False)
    if made.returncode != 0:
        raise UsageError(f'initdb could not make {server.data_dir}: '
                         + (made.stderr.strip().splitlines() or ['?'])[-1])


def running_port(server: LocalServer) -> Optional[int]:
    """The port the server in server.directory listens on, if it runs."""
    if _run('pg_ctl', 'status', '-D', server.data_dir, check=False).returncode != 0:
        return None
    with open(os.path.join(server.data_dir, 'postmaster.pid')) as pid_file:
        lines = pid_file.read().splitlines()
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def _wait_until_it_answers(server: LocalServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            postgres.check(server.store('postgres'))
            return
        except postgres.StoreFault:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def create_database(server: LocalServer, database: str) -> Store:
    """The database on the server (made unless there); its store. What the server
    refuses is a StoreFault (one line)."""
    with postgres.session(server.store('postgres')) as connection:
        if not connection.run('SELECT 1 FROM pg_database WHERE datname = :name', name=database):
            connection.run(f'CREATE DATABASE "{database}"')
    return server.store(database)


def start(server: LocalServer, databases: Sequence[str] = (DATABASE,)) -> bool:
    """Starts the server unless it runs (False then), waits until it answers, and
    makes the databases; UsageError naming what stops it (not installed, the port
    taken, another port already)."""
    _prepared(server)
    port = running_port(server)
    if port is not None and port != server.port:
        raise UsageError(f'the store in {server.directory} already runs on port {port}, not '
                         f'{server.port}: `make store-stop` first')
    if port is None:
        options = (f'-p {server.port} -k {server.directory} '
                   '-c listen_addresses=127.0.0.1')
        started = _run('pg_ctl', 'start', '-D', server.data_dir, '-l', server.log_path, '-w',
                       '-t', str(START_SECONDS), '-o', options, check=False)
        if started.returncode != 0:
            why = (local_processes.log_problem(server.log_path, 'FATAL|ERROR', 300)
                   or f'see {server.log_path}')
            raise UsageError(f'PostgreSQL did not start on 127.0.0.1:{server.port}: {why} '
                             f'(set {PORT_ENV} for another port)')
    _wait_until_it_answers(server)
    for database in databases:
        create_database(server, database)
    return port is None


def stop(server: LocalServer) -> bool:
    """Stops the server if it runs (False when it did not)."""
    if not os.path.exists(os.path.join(server.data_dir, 'PG_VERSION')) or \
            running_port(server) is None:
        return False
    _run('pg_ctl', 'stop', '-D', server.data_dir, '-m', 'fast', '-w', '-t', str(START_SECONDS))
    return True
