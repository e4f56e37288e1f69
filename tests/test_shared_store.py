"""A team on one ML Metadata store: the whole pipeline run by two people from two
homes into a PostgreSQL server, artifacts and pushed models in a shared
pipeline root, and every command that reads ML Metadata on it from a third
home (runs and --mine, compare, lineage, report, monitor, draft-schema,
batch-predict, rollback, reproduce); the store's password never shown, logged
or recorded."""

import json
import os
import socket

import pytest
from tensorflow_serving.apis import predict_pb2

from common.tf_serving import newest_version
from pipeline import postgres
from serving.request_log import RequestLogger
from tests.support import (
    PIPELINE_SAMPLE_ROWS,
    PIPELINE_TRAIN_STEPS,
    TRAINING_COMPONENTS,
    as_user,
    local_args,
    new_database,
    read_rows,
    runner,
    runs,
    store_runs,
    to_example,
    to_instance,
    versions,
)

pytestmark = pytest.mark.e2e

PASSWORD = 'team-s3cret'   # carried in the URL; the test server trusts 127.0.0.1 anyway
PEOPLE = ('alice', 'bob')


@pytest.fixture(scope='module')
def team(postgres_server, pipeline_sample, tmp_path_factory):
    """A store, its URL (with the password), the shared root, each person's run
    (bob's with one more step: another model, pushed as a new version) and home,
    and a home of a third person who only reads."""
    store = new_database(postgres_server, 'team')
    url = f'postgresql://postgres:{PASSWORD}@127.0.0.1:{store.port}/{store.database}'
    root = str(tmp_path_factory.mktemp('team_root'))
    sample = pipeline_sample
    homes = {name: str(tmp_path_factory.mktemp(f'{name}_home')) for name in PEOPLE}
    for steps, name in enumerate(PEOPLE, PIPELINE_TRAIN_STEPS):
        result = runner(*local_args(homes[name], sample, '--train-steps', str(steps),
                                    '--metadata', url, '--pipeline-root', root),
                        env=as_user(name), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    recorded = {r.user: r for r in store_runs(store)}
    return {'store': store, 'url': url, 'root': root, 'sample': sample, 'homes': homes,
            'runs': recorded, 'reader': str(tmp_path_factory.mktemp('carol_home'))}


def _read(team, *args, user='carol'):
    """A command of the reader's, on the team's store and root."""
    return runner(*args, '--home', team['reader'], '--metadata', team['url'],
                  '--pipeline-root', team['root'], env=as_user(user))


def _serving(team):
    return os.path.join(team['root'], 'serving_model', 'chicago_taxi')


def test_both_runs_are_recorded_with_who_started_them_and_where(team):
    listed = _read(team, 'runs', '--json')
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    training = [e for e in entries if e['pipeline'] == 'chicago-taxi']
    assert [(e['user'], e['host']) for e in training] == \
        [('bob', socket.gethostname()), ('alice', socket.gethostname())]
    assert all(e['state'] == 'complete' and e['blessed'] for e in training)
    for name, record in team['runs'].items():
        assert sorted(record.components) == sorted(TRAINING_COMPONENTS), name
        assert record.pushed and not record.already_pushed       # two models, two pushes
    newest = newest_version(_serving(team))
    assert [e['pushed_version'] for e in entries if e['serving']] == [str(newest)]
    for home in team['homes'].values():      # the artifacts went to the shared root
        assert sorted(os.listdir(home)) == ['.lock', 'logs']
    mine = _read(team, 'runs', '--mine', user='alice')
    assert mine.returncode == 0, mine.stderr
    [header, row] = mine.stdout.splitlines()
    assert header.split()[4] == 'BY' and f'alice@{socket.gethostname()}' in row.split()
    assert team['runs']['alice'].run_id in row
    assert _read(team, 'runs', '--mine', user='dave').stdout.startswith('No runs in ')


def test_compare_and_lineage_read_the_shared_store(team):
    alice, bob = team['runs']['alice'], team['runs']['bob']
    compared = _read(team, 'compare', alice.run_id, bob.run_id)
    assert compared.returncode == 0, compared.stderr
    assert 'train_steps' in compared.stdout and 'Model ' in compared.stdout
    lineage = _read(team, 'lineage', '--version', bob.pushed_version)
    assert lineage.returncode == 0, lineage.stderr
    assert f'pushed by run {bob.run_id}' in lineage.stdout
    assert os.path.join(team['root'], 'pipelines', 'chicago-taxi', 'Trainer') in lineage.stdout


def test_the_report_draws_on_the_shared_store(team):
    report = _read(team, 'report')
    assert report.returncode == 0, report.stderr
    page = open(os.path.join(team['reader'], 'report', 'index.html')).read()
    assert all(r.run_id in page for r in team['runs'].values())
    assert f'alice@{socket.gethostname()}' in page and team['store'].url in page


def test_monitor_judges_traffic_against_the_model_in_service(team, schema, tmp_path):
    logger = RequestLogger(str(tmp_path / 'logs' / 'taxi'), 1.0, 1 << 30, 3600)
    rows = [to_instance(r, schema) for r in read_rows(PIPELINE_SAMPLE_ROWS + 600)[-600:]]
    for start in range(0, len(rows), 20):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = 'chicago_taxi'
        request.inputs['examples'].string_val.extend(to_example(r) for r in rows[start:start + 20])
        logger.log('predict', request, predict_pb2.PredictResponse())
    logger.close()
    monitored = _read(team, 'monitor', '--requests', str(tmp_path / 'logs'))
    assert monitored.returncode in (0, 1), monitored.stdout + monitored.stderr   # 1: findings
    assert 'Served examples: 600' in monitored.stdout
    report = json.load(open(os.path.join(team['reader'], 'monitoring', 'latest.json')))
    assert report['examples'] == 600 and 'skew' in report


def test_draft_schema_and_batch_predictions_from_the_shared_store(team, tmp_path):
    drafted = _read(team, 'draft-schema', '--output', str(tmp_path / 'draft.pbtxt'))
    assert drafted.returncode == 0, drafted.stderr
    assert 'feature {' in (tmp_path / 'draft.pbtxt').read_text()
    scored = _read(team, 'batch-predict', '--input', team['sample'], '--output',
                   str(tmp_path / 'scored'))
    assert scored.returncode == 0, scored.stdout + scored.stderr
    lines = (tmp_path / 'scored' / 'predictions.csv').read_text().splitlines()
    assert len(lines) == PIPELINE_SAMPLE_ROWS + 1 and lines[0].endswith('probability')
    batch = store_runs(team['store'], 'chicago-taxi-batch')
    assert batch and batch[0].user == 'carol' and batch[0].state == 'complete'


def test_rollback_pushes_an_earlier_model_into_the_shared_root(team):
    alice = team['runs']['alice']
    rolled = _read(team, 'rollback', '--to', alice.pushed_version)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    newest = newest_version(_serving(team))
    assert f'Rolled back: version {newest} serves the model of version {alice.pushed_version}' \
        in rolled.stdout
    lineage = _read(team, 'lineage', '--version', str(newest))
    assert f'a rollback: the model of version {alice.pushed_version}' in lineage.stdout
    assert f'Run {alice.run_id}' in lineage.stdout


def test_a_run_from_the_shared_store_reproduces_in_a_fresh_home(team, tmp_path):
    alice = team['runs']['alice']
    again = _read(team, 'reproduce', alice.run_id, '--into', str(tmp_path / 'again'))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f'trained the same model (fingerprint {alice.model_fingerprint})' in again.stdout
    [fresh] = runs(str(tmp_path / 'again'))        # its own SQLite store, its own pushes
    assert fresh.model_fingerprint == alice.model_fingerprint
    assert len(versions(os.path.join(tmp_path, 'again', 'serving_model', 'chicago_taxi'))) == 1


def test_the_password_is_never_shown_logged_or_recorded(team):
    listed = _read(team, 'runs', '--json')
    assert PASSWORD not in listed.stdout + listed.stderr
    logs = [os.path.join(home, 'logs', name) for home in team['homes'].values()
            for name in os.listdir(os.path.join(home, 'logs'))]
    texts = [open(path, errors='replace').read() for path in logs]
    assert not [path for path, text in zip(logs, texts, strict=True) if PASSWORD in text]
    assert any('password: "***"' in text for text in texts)    # TFX logged it, masked
    with postgres.session(team['store']) as connection:
        values = connection.run(
            'SELECT string_value FROM artifactproperty UNION ALL SELECT string_value FROM '
            'executionproperty UNION ALL SELECT string_value FROM contextproperty UNION ALL '
            'SELECT uri FROM artifact')
    recorded = [v for [v] in values if v]
    assert recorded and not [v for v in recorded if PASSWORD in v]
    assert any(team['store'].url in v for v in recorded)        # the store, by its URL
