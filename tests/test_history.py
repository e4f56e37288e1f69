"""Run history on real pipeline runs: bit-exact re-runs, `runs`, `compare`,
`lineage`, `reproduce` and `rollback` (checked through the official stubs
against our server)."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from pipeline import mlmd
from serving.local_server import REPO, ModelServer
from tests.support import (
    PIPELINE_TRAIN_STEPS,
    copy_home,
    predict,
    read_rows,
    run_pipeline,
    runner,
    runs,
    to_example,
    to_instance,
)

pytestmark = pytest.mark.e2e
SOURCES = ('common', 'models', 'serving', 'pipeline', 'runner', 'schema')


@pytest.fixture(scope='module')
def two_models(pipeline_home, tmp_path_factory):
    """(home, run A, run B): the shared run (A) and one with twice the steps (B), which
    is pushed as a second version. Nothing may change it: copy it to roll back."""
    home = copy_home(pipeline_home[0], tmp_path_factory.mktemp('two') / 'home')
    result = run_pipeline(home, pipeline_home[1], '--train-steps', str(2 * PIPELINE_TRAIN_STEPS))
    assert result.returncode == 0, result.stdout + result.stderr
    b, a = runs(home)
    assert a.pushed and b.pushed and a.pushed_version != b.pushed_version, result.stdout
    return home, a, b


def test_two_fresh_runs_train_bit_identical_models(pipeline_home, rerun_home):
    first, again = pipeline_home[3], runs(rerun_home[0])[-1]
    assert first.model_fingerprint and first.model_fingerprint == again.model_fingerprint
    assert first.transform_graph.uri != again.transform_graph.uri
    for vocabulary in ('payment_type', 'company'):
        a, b = (open(os.path.join(r.transform_graph.uri, 'transform_fn', 'assets', vocabulary),
                     'rb').read() for r in (first, again))
        assert a == b


def test_a_run_records_what_it_was_made_from(pipeline_home):
    record = pipeline_home[3]
    assert record.commit != '' and record.recorded(mlmd.LOCK_SHA256)
    assert set(record.recorded(mlmd.PACKAGE_VERSIONS)) == {
        'tfx', 'tensorflow', 'apache-beam', 'tensorflow-transform', 'tensorflow-model-analysis',
        'tensorflow-data-validation'}
    assert record.config['train_steps'] == PIPELINE_TRAIN_STEPS
    assert record.config['data_root'] == pipeline_home[1]
    [data] = record.recorded(mlmd.DATA_FILES)
    assert data['path'] == 'data.csv' and data['bytes'] == os.path.getsize(
        os.path.join(pipeline_home[1], 'data.csv'))
    assert len(record.data_fingerprint) == 64 and len(record.recorded(mlmd.SCHEMA_SHA256)) == 64
    assert 0.5 < record.auc < 1 and record.metrics['example_count'] > 0


def test_runs_lists_each_run_with_what_made_it(two_models):
    home, a, b = two_models
    result = runner('runs', '--home', home)
    assert result.returncode == 0 and result.stderr == ''
    header, newest, oldest = result.stdout.splitlines()
    assert header.split()[:4] == ['RUN', 'START', 'TOOK', 'STATE']
    assert newest.startswith(b.run_id) and f'{b.pushed_version} (serving)' in newest
    assert f'train_steps={2 * PIPELINE_TRAIN_STEPS}' in newest and f'{b.auc:.4f}' in newest
    assert oldest.startswith(a.run_id) and '(serving)' not in oldest
    listed = json.loads(runner('runs', '--home', home, '--json', '--limit', '1').stdout)
    assert [r['run_id'] for r in listed] == [b.run_id]
    entry = listed[0]
    for key in ('run_id', 'start', 'state', 'commit', 'lock_sha256', 'data_fingerprint',
                'hparams', 'auc', 'blessed', 'pushed_version'):
        assert key in entry, key
    assert entry['hparams']['train_steps'] == 2 * PIPELINE_TRAIN_STEPS
    assert entry['serving'] and entry['blessed'] and entry['state'] == 'complete'


def test_runs_loads_neither_tensorflow_nor_tfx(two_models):
    code = ('import sys; from runner import cli; '
            f'assert cli.main(["runs", "--home", {two_models[0]!r}]) == 0; '
            'loaded = {m.split(".")[0] for m in sys.modules}; '
            'print(sorted(loaded & {"tensorflow", "tfx", "keras", "apache_beam"}), '
            'file=sys.stderr)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0 and result.stderr == '[]\n', result.stderr


def test_compare_shows_the_hyperparameter_and_metric_deltas(two_models):
    home, a, b = two_models
    result = runner('compare', a.run_id, b.run_id, '--home', home)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f'train_steps: {PIPELINE_TRAIN_STEPS} -> {2 * PIPELINE_TRAIN_STEPS}' in out
    assert 'Data       same' in out and 'Lock       same' in out
    [auc] = [line for line in out.splitlines() if line.split()[:1] == ['auc']]
    assert auc.split() == ['auc', f'{a.auc:.4f}', f'{b.auc:.4f}', f'{b.auc - a.auc:+.4f}']
    assert 'payment_type = Credit Card' in out          # per slice
    assert 'Model      differ' in out


def test_lineage_leads_from_a_version_to_its_data_and_code(two_models):
    home, _, b = two_models
    result = runner('lineage', '--version', b.pushed_version, '--home', home)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f'Version {b.pushed_version} (serving now): pushed by run {b.run_id}')
    assert f'commit {b.commit}' in out and b.recorded(mlmd.LOCK_SHA256) in out
    assert 'data.csv' in out and b.data_fingerprint in out and b.model_fingerprint in out
    assert 'canary     passed' in out


def test_rollback_serves_the_earlier_model_as_a_new_version(two_models, schema, tmp_path):
    home = copy_home(two_models[0], tmp_path / 'home')
    _, a, b = two_models
    rows = [to_example(to_instance(r, schema)) for r in read_rows(30)]
    base = os.path.join(home, 'serving_model', 'chicago_taxi')
    with ModelServer('--model_name=chicago_taxi', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1', rest=False) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel())
        before = predict(stub, rows)
        assert before.model_spec.version.value == int(b.pushed_version)
        result = runner('rollback', '--home', home)
        assert result.returncode == 0, result.stdout + result.stderr
        rollback = runs(home, 'chicago-taxi-rollback')[0]
        new_version = int(rollback.pushed_version)
        assert new_version > int(b.pushed_version)
        assert rollback.pushed_model.get(mlmd.ROLLED_BACK_TO) == a.pushed_version
        assert f'version {new_version} serves the model of version {a.pushed_version}' \
            in result.stdout
        for _ in range(60):    # the server polls the directory every second
            after = predict(stub, rows)
            if after.model_spec.version.value == new_version:
                break
            time.sleep(0.5)
    assert after.model_spec.version.value == new_version
    serve = tf.saved_model.load(os.path.join(base, a.pushed_version)).signatures['serving_default']
    old = serve(examples=tf.constant(rows))['probabilities'].numpy()
    served, replaced = (tf.make_ndarray(r.outputs['probabilities']) for r in (after, before))
    np.testing.assert_allclose(served, old, atol=1e-6)        # the old model's weights
    assert np.abs(served - replaced).max() > 1e-3
    lineage = runner('lineage', '--version', str(new_version), '--home', home).stdout
    assert f'a rollback: the model of version {a.pushed_version}' in lineage
    assert f'Run {a.run_id}' in lineage


def _snapshot(home):
    """What a refused command must leave as it was."""
    return {path: os.stat(os.path.join(home, path)).st_mtime_ns
            for path in ('metadata.db',)} | {'files': sorted(
                os.path.relpath(os.path.join(d, f), home)
                for d, _, files in os.walk(home) for f in files)}


@pytest.mark.parametrize('case', ['unknown', 'never pushed', 'tampered', 'no earlier'])
def test_rollback_refuses_and_writes_nothing(case, pipeline_home, two_models, tmp_path):
    source = pipeline_home[0] if case == 'no earlier' else two_models[0]
    home = copy_home(source, tmp_path / 'home')
    _, a, b = two_models
    base = os.path.join(home, 'serving_model', 'chicago_taxi')
    args, message = [], ''
    if case == 'unknown':
        args, message = ['--to', '123'], 'version 123 was never pushed by a blessed run'
    elif case == 'never pushed':
        shutil.copytree(os.path.join(base, b.pushed_version), os.path.join(base, '100'))
        args, message = ['--to', '100'], 'version 100 was never pushed by a blessed run'
    elif case == 'tampered':
        with open(os.path.join(base, a.pushed_version, 'variables', 'variables.index'), 'ab') as f:
            f.write(b'x')
        message = f'{a.pushed_version} no longer match the fingerprint recorded for version'
    else:
        message = 'no earlier pushed version to roll back to'
    before = _snapshot(home)
    result = runner('rollback', '--home', home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith('error: ') and result.stderr.count('\n') == 1
    assert message in result.stderr
    assert _snapshot(home) == before


def test_reproduce_trains_the_same_model_again(pipeline_home, tmp_path):
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    record = pipeline_home[3]
    into = tmp_path / 'again'
    result = runner('reproduce', record.run_id[:19], '--home', home, '--into', str(into))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'trained the same model (fingerprint {record.model_fingerprint})' in result.stdout
    [again] = runs(str(into))
    assert again.model_fingerprint == record.model_fingerprint


def test_reproduce_refuses_when_the_lock_differs(pipeline_home, tmp_path):
    checkout = tmp_path / 'checkout'
    for name in SOURCES:
        shutil.copytree(os.path.join(REPO, name), checkout / name,
                        ignore=shutil.ignore_patterns('__pycache__'))
    lock = open(os.path.join(REPO, 'requirements.lock')).read()
    (checkout / 'requirements.lock').write_text(lock + 'six==1.16.0\n')
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    record = pipeline_home[3]
    into = tmp_path / 'again'
    result = runner('reproduce', record.run_id, '--home', home, '--into', str(into),
                    cwd=str(checkout))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count('\n') == 1
    assert f"requirements.lock sha256 {record.recorded(mlmd.LOCK_SHA256)} (recorded) != " \
        in result.stderr
    assert '--allow-code-change' in result.stderr and not into.exists()


@pytest.mark.parametrize('command', [['compare', 'nope', 'nope2'], ['lineage', '--run', 'nope'],
                                     ['lineage', '--version', '42'], ['reproduce', 'nope']])
def test_unknown_runs_and_versions_are_bad_input(command, pipeline_home):
    result = runner(*command, '--home', pipeline_home[0])
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert result.stderr.startswith('error: ') and ('nope' in result.stderr
                                                    or '42' in result.stderr)


def test_a_run_the_store_could_not_close_shows_as_the_lock_left_it(pipeline_home):
    """RUNNING executions with no live process: failed, with the cause the home's lock
    kept (a full disk refused the store the failure), else abandoned; live: running."""
    from operations.run_history import Activity, state
    record = pipeline_home[3]
    running = dataclasses.replace(record, components={
        node: dataclasses.replace(c, state='RUNNING') if node == 'Trainer' else c
        for node, c in record.components.items()})
    assert state(running) == 'abandoned at Trainer'
    assert state(running, Activity(live_run=record.run_id)) == 'running at Trainer'
    assert state(running, Activity(failed_run=record.run_id, failure='disk full')) == \
        'failed at Trainer'
