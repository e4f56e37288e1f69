"""`make store` and `make store-stop` (`runner store start|stop`): a PostgreSQL
server on 127.0.0.1 with its data outside the repository, started and
stopped, both safe to repeat; the URL it prints is a store that answers; a
port already taken is named in one line."""

import os
import shutil
import socket
import tempfile

import pytest

from operations import store_server
from serving.local_server import free_port
from tests.support import as_user, runner

pytestmark = pytest.mark.e2e


@pytest.fixture
def place():
    """TAXI_STORE_DIR and TAXI_STORE_PORT for a store of the test's own (under /tmp:
    pytest's directories are closed to the `postgres` user); stopped and removed
    afterwards."""
    if not store_server.installed():
        pytest.skip(f'needs PostgreSQL 15 in {store_server.BIN_DIR} (apt-get install '
                    'postgresql-15)')
    directory = tempfile.mkdtemp(prefix='taxi-test-make-store-')
    os.chmod(directory, 0o755)           # the postgres user passes through to store/
    env = {**as_user('carol'), store_server.DIR_ENV: os.path.join(directory, 'store'),
           store_server.PORT_ENV: str(free_port())}
    try:
        yield env
    finally:
        try:
            store_server.stop(store_server.default_server(environ=env))
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def test_start_prints_a_store_that_answers_and_both_are_safe_to_repeat(place):
    url = f'postgresql://postgres@127.0.0.1:{place[store_server.PORT_ENV]}/mlmd'
    started = runner('store', 'start', env=place)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(f'Started PostgreSQL on 127.0.0.1:{place["TAXI_STORE_PORT"]}')
    assert f'export TAXI_METADATA_URL={url}\n' in started.stdout
    again = runner('store', 'start', env=place)
    assert again.returncode == 0 and again.stdout.startswith('Already running: ')
    empty = runner('runs', '--home', place[store_server.DIR_ENV] + '-home', '--metadata', url,
                   env=place)
    assert empty.returncode == 2 and f'ML Metadata store {url} holds no runs yet' in empty.stderr
    checked = runner('store', 'check', '--metadata', url, env=place)
    assert checked.returncode == 2 and 'holds no runs yet' in checked.stderr
    moved = runner('store', 'start', '--port', str(free_port()), env=place)
    assert moved.returncode == 2 and 'already runs on port' in moved.stderr
    stopped = runner('store', 'stop', env=place)
    assert stopped.returncode == 0 and stopped.stdout.startswith('Stopped the store in ')
    assert runner('store', 'stop', env=place).stdout.startswith('Not running: ')
    assert 'cannot be reached' in runner('runs', '--metadata', url, env=place).stderr


def test_a_directory_the_server_user_cannot_reach_is_named(place):
    if os.geteuid() != 0:
        pytest.skip('PostgreSQL runs as the postgres user only when the command runs as root')
    closed = os.path.dirname(place[store_server.DIR_ENV])
    os.chmod(closed, 0o700)
    result = runner('store', 'start', env=place)
    assert result.returncode == 2 and result.stderr == (
        f'error: {place[store_server.DIR_ENV]}: PostgreSQL runs as the postgres user, which '
        f'cannot reach it ({closed} is closed to others): give TAXI_STORE_DIR a directory '
        f'outside {closed}\n')


def test_a_port_already_taken_is_named_in_one_line(place):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', int(place[store_server.PORT_ENV])))
        taken.listen()
        result = runner('store', 'start', env=place)
    assert result.returncode == 2 and result.stderr.count('\n') == 1, result.stderr
    assert result.stderr.startswith(
        f'error: PostgreSQL did not start on 127.0.0.1:{place["TAXI_STORE_PORT"]}: ')
    assert result.stderr.endswith('(set TAXI_STORE_PORT for another port)\n')
