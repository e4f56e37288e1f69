"""Which ML Metadata store a run records into and a command reads: SQLite in the
pipeline home (the default: one person's history), or a PostgreSQL server a
team shares, named by a URL as libpq and SQLAlchemy write them:

    postgresql://USER@HOST:PORT/DATABASE

The password is never part of what is shown or recorded: `url` leaves it out.
It comes from the URL (postgresql://USER:PASSWORD@HOST...), else PGPASSWORD,
else a passfile (PGPASSFILE, ~/.pgpass), as libpq looks for it
(pipeline/postgres.py). Light: no driver, no ML Metadata, for the CLI.
"""

import dataclasses
import getpass
import os
import urllib.parse
from typing import Optional

SQLITE, POSTGRESQL = 'sqlite', 'postgresql'
SCHEMES = ('postgresql', 'postgres')
DEFAULT_PORT = 5432
FORM = 'postgresql://USER@HOST:PORT/DATABASE'


class StoreURLError(ValueError):
    """A store URL this project cannot use; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class Store:
    """One ML Metadata store: a SQLite file, or a database on a PostgreSQL server."""

    kind: str
    path: str = ''                  # SQLite: the file
    host: str = ''                  # PostgreSQL: server, port, role and database
    port: int = DEFAULT_PORT
    user: str = ''
    database: str = ''
    # From the URL only (PGPASSWORD and passfiles are read where a connection is
    # made); never shown, compared, logged or recorded.
    password: Optional[str] = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def sqlite(cls, path: str) -> 'Store':
        return cls(SQLITE, path=path)

    @property
    def shared(self) -> bool:
        """A server's store, which other people's runs and commands also use."""
        return self.kind != SQLITE

    @property
    def url(self) -> str:
        """The store as people and records name it: the file, or the URL without
        a password."""
        if not self.shared:
            return self.path
        user = urllib.parse.quote(self.user, safe='')
        database = urllib.parse.quote(self.database, safe='')
        return f'{self.kind}://{user}@{self.host}:{self.port}/{database}'

    def __str__(self) -> str:
        return self.url


def _port(parts: urllib.parse.SplitResult, url: str) -> int:
    try:
        port = parts.port
    except ValueError:
        raise StoreURLError(f'{_shown(url)}: the port is not a number from 1 to 65535') from None
    return port or DEFAULT_PORT


def _shown(url: str) -> str:
    """The URL as given, its password (if any) masked."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(':' + parts.password + '@', ':***@', 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse(url: str) -> Store:
    """The PostgreSQL store a URL names; StoreURLError saying what is missing or
    wrong (the password masked). Without a user: PGUSER, else this login, as libpq."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise StoreURLError(f'{_shown(url)} is not a store URL: give {FORM}')
    database = urllib.parse.unquote(parts.path.lstrip('/'))
    if not parts.hostname:
        raise StoreURLError(f'{_shown(url)} names no server: give {FORM}')
    if not database or '/' in database:
        raise StoreURLError(f'{_shown(url)} names no database: give {FORM}')
    if parts.query or parts.fragment:
        raise StoreURLError(f'{_shown(url)}: options after the database are not supported; '
                            f'give {FORM}')
    user = urllib.parse.unquote(parts.username or '') or os.environ.get('PGUSER') \
        or getpass.getuser()
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return Store(POSTGRESQL, host=parts.hostname, port=_port(parts, url), user=user,
                 database=database, password=password)
