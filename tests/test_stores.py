"""A home's ML Metadata store in every condition a disk or a user can leave it:
empty after a first run that failed on a full disk (recreated by the next run),
damaged (named, in one line, by every command that reads it), on a disk that
fills mid-run (the run shows as failed, with its cause), read-only (one line,
exit 2, never a traceback)."""

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline.store_url import Store
from runner import cli
from tests.support import (
    PIPELINE_TRAIN_STEPS,
    copy_home,
    mounted_tmpfs,
    read_until,
    run_pipeline,
    runner,
    runs,
    serving_model_dir,
    started_run,
    versions,
)

READERS = [['runs'], ['report'], ['rollback'], ['reproduce', 'RUN'], ['compare', 'A', 'B'],
           ['lineage', '--run', 'RUN'], ['draft-schema', '--output', 'OUT'], ['monitor'],
           ['batch-predict', '--input', '.', '--output', 'OUT'], ['local']]


@pytest.mark.parametrize('command', READERS, ids=[c[0] for c in READERS])
def test_a_damaged_store_is_named_in_one_line_by_every_command(command, tmp_path, capsys):
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'metadata.db').write_bytes(b'not a database, whatever wrote it' * 64)
    argv = [str(tmp_path / 'out') if arg == 'OUT' else arg for arg in command]
    assert cli.main([*argv, '--home', str(home)]) == 1
    err = capsys.readouterr().err
    assert err == (f'error: ML Metadata at {home}/metadata.db cannot be read (file is not a '
                   'database): move it aside to start a new history in this home, or put back '
                   'a copy from a backup\n')
    assert sorted(os.listdir(home)) == ['metadata.db']        # nothing written


@pytest.mark.parametrize('command', READERS[:-1], ids=[c[0] for c in READERS[:-1]])
def test_an_empty_store_holds_no_runs(command, tmp_path, capsys):
    home = tmp_path / 'home'
    home.mkdir()
    (home / 'metadata.db').touch()
    argv = [str(tmp_path / 'out') if arg == 'OUT' else arg for arg in command]
    assert cli.main([*argv, '--home', str(home)]) == 2
    assert capsys.readouterr().err == (
        f'error: ML Metadata at {home}/metadata.db holds no runs (0 bytes: left by a first run '
        f'that stopped early): run `python -m runner local --home {home}` first\n')


@pytest.mark.e2e
def test_a_first_run_on_a_full_disk_leaves_a_home_the_next_run_repairs(pipeline_home, tmp_path):
    with mounted_tmpfs(tmp_path / 'disk', 'size=200k') as disk:
        home = str(disk / 'home')
        first = run_pipeline(home, pipeline_home[1])
        assert first.returncode == 1
        assert first.stderr.count('\n') == 1 and 'database or disk is full' in first.stderr
        subprocess.run(['mount', '-o', 'remount,size=200m', str(disk)], check=True)
        listed = runner('runs', '--home', home)
        assert listed.returncode == 2 and 'holds no runs' in listed.stderr
        again = run_pipeline(home, pipeline_home[1])
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'recorded no run' in again.stdout and 'this run creates it afresh' in again.stdout
        assert len(versions(serving_model_dir(home))) == 1


FULL = ('No space left on device', 'disk is full')


def _fill(path):
    """Writes to path until the disk is full, to the last block."""
    with open(path, 'wb', buffering=0) as filler:
        for size in (1 << 20, 4096):
            try:
                while True:
                    filler.write(b'\0' * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error


@pytest.mark.e2e
def test_a_disk_that_fills_mid_run_shows_the_run_failed_with_its_cause(pipeline_home, tmp_path):
    """The whole home on a disk that fills as the Trainer starts: ML Metadata cannot
    take the failure either; the home's lock keeps it, and the next run records it."""
    steps = str(PIPELINE_TRAIN_STEPS + 1)          # a new model: the Trainer runs again
    with mounted_tmpfs(tmp_path / 'disk', 'size=200m') as disk:
        home = copy_home(pipeline_home[0], disk / 'home')
        process = started_run(home, pipeline_home[1], '--train-steps', steps)
        try:
            read_until(process, '  Trainer')
            _fill(disk / 'filler')
            _, err = process.communicate(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        (disk / 'filler').unlink()
        err = err.decode()
        assert process.returncode == 1 and err.count('\n') == 1, err
        assert any(words in err for words in FULL), err
        [entry, *_] = json.loads(runner('runs', '--home', home, '--json').stdout)
        assert entry['state'].startswith('failed at '), entry
        assert any(words in entry['failure_cause'] for words in FULL), entry
        again = run_pipeline(home, pipeline_home[1], '--train-steps', steps)
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'abandoned' not in again.stdout
        assert runs(home)[1].state == entry['state']


@pytest.mark.e2e
@pytest.mark.parametrize('command', [
    ['local'], ['report'], ['rollback'], ['reproduce', 'RUN'], ['monitor'],
    ['batch-predict', '--input', 'DATA', '--output', 'OUT']], ids=lambda c: c[0])
def test_a_read_only_home_is_one_line_and_exit_2(command, pipeline_home, tmp_path):
    with mounted_tmpfs(tmp_path / 'disk', 'size=64m') as disk:
        home = copy_home(pipeline_home[0], disk / 'home')
        subprocess.run(['mount', '-o', 'remount,ro', str(disk)], check=True)
        argv = [{'RUN': pipeline_home[3].run_id, 'DATA': pipeline_home[1],
                 'OUT': str(tmp_path / 'out')}.get(arg, arg) for arg in command]
        result = runner(*argv, '--home', home)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.count('\n') == 1 and 'is not writable' in result.stderr
        assert 'Traceback' not in result.stderr
        assert runner('runs', '--home', home).returncode == 0     # reading still works


@pytest.mark.e2e
def test_a_store_that_holds_runs_is_never_recreated(pipeline_home, tmp_path):
    from pipeline import mlmd
    home = tmp_path / 'home'
    home.mkdir()
    shutil.copy(os.path.join(pipeline_home[0], 'metadata.db'), home / 'metadata.db')
    before = (home / 'metadata.db').read_bytes()
    store = Store.sqlite(str(home / 'metadata.db'))
    assert mlmd.store_condition(store)[0] == mlmd.READY
    assert mlmd.recreate_if_empty(store) is None
    assert (home / 'metadata.db').read_bytes() == before


KILLED_WRITER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('PRAGMA cache_size=1')          # pages reach the file before the commit
db.execute('BEGIN EXCLUSIVE')
db.execute("UPDATE Artifact SET uri = uri || '-rewritten-by-a-killed-writer'")
db.execute("UPDATE Execution SET last_known_state = 5")
os._exit(0)                                 # killed mid-transaction: a hot journal
"""


@pytest.mark.e2e
def test_a_store_left_mid_write_by_a_killed_run_is_read_as_it_was(pipeline_home, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    store = home / 'metadata.db'
    shutil.copy(os.path.join(pipeline_home[0], 'metadata.db'), store)
    subprocess.run([sys.executable, '-c', KILLED_WRITER, str(store)], check=True)
    assert os.path.exists(str(store) + '-journal')
    listed = runner('runs', '--home', str(home), '--json')
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry['run_id'] == pipeline_home[3].run_id and entry['state'] == 'complete'
    assert not os.path.exists(str(store) + '-journal')        # rolled back
