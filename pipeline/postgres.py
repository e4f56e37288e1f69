"""A PostgreSQL server that holds ML Metadata, reached besides ML Metadata's own
client (for the checks before a command works, the run lock, the copy from
SQLite): a connection through pg8000, a pure-Python driver, with the password
found where libpq finds it (the URL, PGPASSWORD, then the passfile: PGPASSFILE
or ~/.pgpass); and the server's faults, each named in one line with the store
(never the password) and what to do: not reachable, password refused, no such
role or database, starting up or shutting down."""

import contextlib
import logging
import os
from typing import Any, Dict, Iterator, List, Optional

from common.exit_status import UsageError
from pipeline.store_url import Store

CONNECT_SECONDS = 10
# PostgreSQL's error codes (SQLSTATE) for the faults named here.
WRONG_PASSWORD, NO_ROLE, NO_DATABASE, CANNOT_CONNECT_NOW = '28P01', '28000', '3D000', '57P03'
NO_PRIVILEGE = '42501'
ADMIN_SHUTDOWN = ('57P01', '57P02')     # the server stopped under a connection


class StoreFault(UsageError):
    """The store's server cannot be used now (exit 2): the message names the store
    and what to do."""


def _passfile_entries(path: str) -> List[List[str]]:
    """hostname:port:database:username:password lines, `\\:` and `\\\\` unescaped."""
    entries = []
    with open(path) as lines:
        for line in lines:
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            fields: List[str] = []
            field, escaped = '', False
            for char in line:
                if escaped:
                    field, escaped = field + char, False
                elif char == '\\':
                    escaped = True
                elif char == ':' and len(fields) < 4:
                    fields, field = fields + [field], ''
                else:
                    field += char
            entries.append(fields + [field])
    return [entry for entry in entries if len(entry) == 5]


def _from_passfile(store: Store) -> Optional[str]:
    path = os.environ.get('PGPASSFILE') or os.path.expanduser('~/.pgpass')
    if not os.path.isfile(path):
        return None
    wanted = (store.host, str(store.port), store.database, store.user)
    for entry in _passfile_entries(path):
        if all(field in ('*', value) for field, value in zip(entry[:4], wanted, strict=True)):
            return entry[4]
    return None


def password(store: Store) -> Optional[str]:
    """The store's password, where libpq would take it from; None if none is set."""
    if store.password is not None:
        return store.password
    return os.environ.get('PGPASSWORD') or _from_passfile(store)


def _server_message(error: Exception) -> Dict[str, str]:
    """PostgreSQL's fields of a server error (C: the code, M: the message); {} else."""
    first = error.args[0] if error.args else None
    return first if isinstance(first, dict) else {}


def fault(store: Store, error: Exception) -> StoreFault:
    """The one line for a failed connection to store (error: pg8000's)."""
    server = _server_message(error)
    code = server.get('C')
    if code == WRONG_PASSWORD:
        if password(store) is None:
            return StoreFault(f'ML Metadata store {store} asks {store.user} for a password and '
                              'none is set: put it in PGPASSWORD or a passfile (~/.pgpass)')
        return StoreFault(f'ML Metadata store {store} refused the password of {store.user}: '
                          'put the right one in PGPASSWORD or a passfile (~/.pgpass)')
    if code == NO_DATABASE:
        return StoreFault(
            f'ML Metadata store {store}: the server has no database {store.database}: create '
            f'it (createdb -h {store.host} -p {store.port} -U {store.user} {store.database}) '
            'or correct the URL')
    if code == NO_ROLE:
        return StoreFault(f'ML Metadata store {store} refused {store.user}: '
                          f'{server.get("M", "")}: ask its administrator for a role')
    if code == NO_PRIVILEGE:
        return StoreFault(f'ML Metadata store {store} refused {store.user}: '
                          f'{server.get("M", "")}: ask its administrator to grant {store.user} '
                          f'the use of database {store.database}')
    if code == CANNOT_CONNECT_NOW:
        return StoreFault(f'ML Metadata store {store} is starting up or shutting down: '
                          'try again in a moment')
    if server:
        return StoreFault(f'ML Metadata store {store} refused the connection: '
                          f'{server.get("M", "")}')
    reason = error.__cause__ or error
    detail = getattr(reason, 'strerror', None) or str(reason)
    return StoreFault(f'ML Metadata store {store} cannot be reached ({detail}): start its '
                      'server (`make store` starts the local one) or correct the host and '
                      'port')


def connect(store: Store, application: str = 'taxi-pipeline') -> Any:
    """A pg8000 connection to the store's database (closed by the caller);
    StoreFault naming what is wrong."""
    import pg8000.native
    try:
        return pg8000.native.Connection(
            store.user, host=store.host, port=store.port, database=store.database,
            password=password(store) or '', timeout=CONNECT_SECONDS,
            application_name=application[:63])
    except (pg8000.native.Error, OSError) as error:
        raise fault(store, error) from error


def close(connection: Any) -> None:
    """Closes a connection; one that broke (the server went away) is closed already."""
    try:
        connection.close()
    except Exception as error:   # whatever the driver raises for a connection gone
        logging.info('closing a connection to PostgreSQL: %r', error)


@contextlib.contextmanager
def session(store: Store, application: str = 'taxi-pipeline') -> Iterator[Any]:
    """A connection for the block, closed after it; what the server refuses in it
    (a table the role may not read, say) is a StoreFault."""
    import pg8000.native
    connection = connect(store, application)
    try:
        yield connection
    except (pg8000.native.Error, OSError) as error:
        raise fault(store, error) from error
    finally:
        close(connection)


def check(store: Store) -> None:
    """StoreFault unless the store's server takes a connection to its database now."""
    close(connect(store))


def is_driver_error(error: BaseException) -> bool:
    """Whether the driver raised it: the server refused something, or went away."""
    import pg8000.native
    return isinstance(error, (pg8000.native.Error, OSError))


def is_disconnect(error: BaseException) -> bool:
    """Whether error is a connection that broke (the server stopped or went away)."""
    import pg8000.native
    if isinstance(error, (pg8000.native.InterfaceError, OSError)):
        return True
    return isinstance(error, pg8000.native.DatabaseError) and \
        _server_message(error).get('C') in ADMIN_SHUTDOWN
