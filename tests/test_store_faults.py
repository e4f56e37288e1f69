"""A shared ML Metadata store's faults, made to happen for real on a PostgreSQL
server of this module's own: stopped, a wrong or missing password, a database
that is not there (each one `error:` line naming the store, never its
password, and what to do; exit 2, nothing written); stopped in the middle of a
run, and restarted in the middle of one (the run ends failed, naming the
component; the next run resumes from the cache and pushes once)."""

import os
import signal

import pytest

from operations import store_server
from pipeline import postgres
from pipeline.store_url import parse
from tests.support import (
    finished,
    new_database,
    postgres_server,
    read_until,
    run_pipeline,
    runner,
    started_run,
    store_runs,
    versions,
    wait_for,
)

pytestmark = pytest.mark.e2e

PASSWORD = 'n0t-shown'


@pytest.fixture(scope='module')
def server():
    """The module's own server: its tests stop and restart it (each starts it again)."""
    with postgres_server() as started:
        yield started


def _one_line(result):
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count('\n') == 1 and 'Traceback' not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result.stderr


@pytest.mark.parametrize('command', [['runs'], ['report'], ['local', '--pipeline-root', 'ROOT']],
                         ids=lambda c: c[0])
def test_a_stopped_server_is_named_in_one_line(server, command, tmp_path):
    store = new_database(server, 'stopped')
    url = f'postgresql://postgres:{PASSWORD}@127.0.0.1:{server.port}/{store.database}'
    argv = [str(tmp_path / 'root') if arg == 'ROOT' else arg for arg in command]
    store_server.stop(server)
    try:
        result = runner(*argv, '--home', str(tmp_path / 'home'), '--metadata', url)
    finally:
        store_server.start(server, databases=())
    assert _one_line(result) == (
        f'error: ML Metadata store {store.url} cannot be reached (Connection refused): start '
        'its server (`make store` starts the local one) or correct the host and port\n')
    assert not os.path.exists(tmp_path / 'home') and not os.path.exists(tmp_path / 'root')


def _role_with_password(server, role, database):
    """A role that must give its password (scram-sha-256), owning a database."""
    hba = os.path.join(server.data_dir, 'pg_hba.conf')
    with open(hba) as rules:
        kept = rules.read()
    with open(hba, 'w') as rules:        # the first line that matches decides
        rules.write(f'host all {role} 127.0.0.1/32 scram-sha-256\n{kept}')
    with postgres.session(server.store('postgres')) as connection:
        connection.run(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        connection.run(f'CREATE DATABASE {database} OWNER {role}')
        connection.run('SELECT pg_reload_conf()')


def test_a_wrong_or_missing_password_is_named_never_shown(server, tmp_path, monkeypatch):
    _role_with_password(server, 'alice', 'alices')
    url = f'postgresql://alice@127.0.0.1:{server.port}/alices'
    shown = parse(url).url
    home = str(tmp_path / 'home')
    monkeypatch.delenv('PGPASSWORD', raising=False)
    monkeypatch.setenv('PGPASSFILE', str(tmp_path / 'none'))
    wrong = runner('runs', '--home', home, '--metadata', url.replace('alice@', 'alice:wrong@'))
    assert _one_line(wrong) == (f'error: ML Metadata store {shown} refused the password of '
                                'alice: put the right one in PGPASSWORD or a passfile '
                                '(~/.pgpass)\n')
    missing = runner('runs', '--home', home, '--metadata', url)
    assert _one_line(missing) == (f'error: ML Metadata store {shown} asks alice for a password '
                                  'and none is set: put it in PGPASSWORD or a passfile '
                                  '(~/.pgpass)\n')
    (tmp_path / 'pgpass').write_text(f'127.0.0.1:{server.port}:alices:alice:{PASSWORD}\n')
    (tmp_path / 'pgpass').chmod(0o600)
    monkeypatch.setenv('PGPASSFILE', str(tmp_path / 'pgpass'))
    right = runner('runs', '--home', home, '--metadata', url)       # past the password now
    assert _one_line(right) == (f'error: ML Metadata store {shown} holds no runs yet (no ML '
                                f'Metadata tables): run `python -m runner local --metadata '
                                f'{shown}` first\n')


def test_a_database_that_is_not_there_is_named_with_how_to_make_it(server, tmp_path):
    url = f'postgresql://postgres:{PASSWORD}@127.0.0.1:{server.port}/nowhere'
    result = runner('local', '--home', str(tmp_path / 'home'), '--metadata', url,
                    '--pipeline-root', str(tmp_path / 'root'))
    assert _one_line(result) == (
        f'error: ML Metadata store postgresql://postgres@127.0.0.1:{server.port}/nowhere: the '
        f'server has no database nowhere: create it (createdb -h 127.0.0.1 -p {server.port} '
        '-U postgres nowhere) or correct the URL\n')


def _run_args(store, root):
    return ('--metadata', store.url, '--pipeline-root', root)


def _rerun_pushes_once(home, pipeline_sample, store, root, failed):
    """The next run: from the cache up to the Trainer, one push; the failed run's record."""
    again = run_pipeline(home, pipeline_sample, *_run_args(store, root))
    assert again.returncode == 0, again.stdout + again.stderr
    [new, old] = store_runs(store)
    assert old.run_id == failed
    assert all(new.components[node].state == 'CACHED'
               for node in ('CsvExampleGen', 'StatisticsGen', 'Transform'))
    assert versions(os.path.join(root, 'serving_model', 'chicago_taxi')) == [new.pushed_version]
    return again, old


def _hit_at_the_trainer(server, data_root, tmp_path, name, hit):
    """A run on a new database (`name`) of the server, hit (hit(process, store)) once it reaches
    the Trainer: (store, root, home, its first lines, exit code, stdout, stderr). The
    server runs again afterwards, whatever happened."""
    store, root, home = new_database(server, name), str(tmp_path / 'root'), \
        str(tmp_path / 'home')
    process = started_run(home, data_root, *_run_args(store, root))
    try:
        head = read_until(process, '  Trainer')
        hit(process, store)
        code, out, err = finished(process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        store_server.start(server, databases=())
    return store, root, home, head, code, out, err


def test_a_server_stopped_mid_run_fails_it_at_its_component(server, pipeline_sample, tmp_path):
    def stop_while_it_trains(_process, store):
        wait_for(lambda: store_runs(store)[0].state == 'running at Trainer')
        store_server.stop(server)
    store, root, home, head, code, out, err = _hit_at_the_trainer(
        server, pipeline_sample, tmp_path, 'midrun', stop_while_it_trains)
    assert code == 1 and err.count('\n') == 1, out + err
    assert err.startswith(f'error: Trainer failed: ML Metadata store {store.url} cannot be '
                          'reached (Connection refused): ')
    assert err.endswith('; then the next run resumes from the cache\n')
    failed = head.split('run ', 1)[1].split(',')[0]
    again, old = _rerun_pushes_once(home, pipeline_sample, store, root, failed)
    assert f'Run {failed} failed at Trainer: Trainer failed: ML Metadata store' in again.stdout
    assert old.state == 'failed at Trainer' and 'cannot be reached' in old.failure_cause


def test_a_server_restarted_mid_run_stops_it_before_its_next_component(server, pipeline_sample,
                                                                       tmp_path):
    """Its lock went with the restart: it must not go on to push beside another run."""
    def restart_while_it_waits(process, _store):
        os.killpg(process.pid, signal.SIGSTOP)          # the Trainer publishes after the restart
        store_server.stop(server)
        store_server.start(server, databases=())
        os.killpg(process.pid, signal.SIGCONT)
    store, root, home, head, code, out, err = _hit_at_the_trainer(
        server, pipeline_sample, tmp_path, 'restart', restart_while_it_waits)
    assert code == 1, out + err
    assert err == (f'error: the run stopped after Trainer: its lock on ML Metadata store '
                   f'{store.url} went with its connection (the server restarted, or the network '
                   'broke) and another run may hold it now; run it again: it resumes from the '
                   'cache\n')
    assert 'Pusher' not in out
    failed = head.split('run ', 1)[1].split(',')[0]
    _, old = _rerun_pushes_once(home, pipeline_sample, store, root, failed)
    assert old.state == 'stopped after Trainer'
