"""One person's history for the team: a home's SQLite ML Metadata copied into an
empty PostgreSQL store (`runner store copy`), read the same from both by
`runs` and `lineage`, used by a new run (its blessing still names its model),
refused into a store that holds records; and a store that points at artifacts
this machine cannot read, named in one line by the commands that read them."""

import json

import pytest

from pipeline import postgres
from tests.support import copy_home, new_database, runner, store_runs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def copied(pipeline_home, postgres_server, tmp_path_factory):
    """(the home copied, its copy in a PostgreSQL store, `store copy`'s outcome)."""
    home = copy_home(pipeline_home[0], tmp_path_factory.mktemp('copied') / 'home')
    store = new_database(postgres_server, 'copied')
    return home, store, runner('store', 'copy', '--from', home, '--to', store.url)


def _both(home, store, *args):
    """A command's output on the home and on the store."""
    on_home = runner(*args, '--home', home)
    on_store = runner(*args, '--home', home, '--metadata', store.url)
    assert on_home.returncode == on_store.returncode == 0, on_home.stderr + on_store.stderr
    return on_home.stdout, on_store.stdout


def test_a_copied_home_reads_the_same_from_the_store(copied, pipeline_home):
    home, store, result = copied
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f'Copied {home} into {store.url}: ')
    assert '1 run and their lineage read the same from both' in result.stdout
    on_home, on_store = _both(home, store, 'runs', '--json')
    assert json.loads(on_home) == json.loads(on_store)
    record = pipeline_home[3]
    on_home, on_store = _both(home, store, 'lineage', '--version', record.pushed_version)
    assert on_home == on_store and f'pushed by run {record.run_id}' in on_store
    [copy] = store_runs(store)
    assert copy == record          # ids, times, properties: the same record
    checked = runner('store', 'check', '--metadata', store.url)
    assert checked.stdout == (f'ML Metadata at {store.url}: runs 1, the newest '
                              f'{record.run_id}; no run under way\n')


def test_a_store_that_holds_records_is_not_copied_into(copied):
    home, store, _ = copied
    again = runner('store', 'copy', '--from', home, '--to', store.url)
    assert again.returncode == 2 and again.stderr.count('\n') == 1
    assert again.stderr.startswith(f'error: ML Metadata store {store.url} is not empty (')


def test_a_new_run_on_the_copy_finds_the_copied_blessed_model(copied, pipeline_home, tmp_path):
    """Batch inference takes the latest blessed model by the id its blessing holds,
    and records a run of its own beside the copied ones."""
    home, store, _ = copied
    scored = runner('batch-predict', '--home', home, '--metadata', store.url, '--pipeline-root',
                    str(tmp_path / 'root'), '--input', pipeline_home[1], '--output',
                    str(tmp_path / 'scored'))
    assert scored.returncode == 0, scored.stdout + scored.stderr
    [batch] = store_runs(store, 'chicago-taxi-batch')
    model = batch.input('BulkInferrer', 'model')
    assert model.id == pipeline_home[3].model.id and model.uri == pipeline_home[3].model.uri


@pytest.mark.parametrize('command', [['report'], ['compare', 'RUN', 'RUN'],
                                     ['draft-schema', '--output', 'OUT']], ids=lambda c: c[0])
def test_artifacts_this_machine_cannot_read_are_named_in_one_line(
        command, pipeline_home, postgres_server, tmp_path):
    """A store whose runs put their artifacts in someone's private home elsewhere."""
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    store = new_database(postgres_server, 'elsewhere')
    assert runner('store', 'copy', '--from', home, '--to', store.url).returncode == 0
    with postgres.session(store) as connection:
        connection.run('UPDATE artifact SET uri = replace(uri, :here, :there)',
                       here=pipeline_home[0], there='/home/alice/tfx_home')
    argv = [{'RUN': pipeline_home[3].run_id, 'OUT': str(tmp_path / 'draft')}.get(a, a)
            for a in command]
    result = runner(*argv, '--home', str(tmp_path / 'reader'), '--metadata', store.url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count('\n') == 1
    assert result.stderr.startswith('error: ML Metadata points at /home/alice/tfx_home/pipelines/')
    assert result.stderr.endswith('which cannot be read here (no such directory): runs on a '
                                  'shared store need a --pipeline-root the whole team can read\n')
