"""The whole pipeline through the CLI, on a small sample: real TFX components,
Beam, ML Metadata (SQLite), TFDV, TFT, TFMA."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.support import (
    TRAINING_COMPONENTS,
    component_states,
    copy_home,
    read_rows,
    run_pipeline,
    runs,
    serving_model_dir,
    to_example,
    to_instance,
    versions,
    write_csv,
)

pytestmark = pytest.mark.e2e


def _run(home, data_root):
    return run_pipeline(home, data_root)


def _states(home):
    return component_states(runs(home)[0])


@pytest.fixture
def home(pipeline_home, tmp_path):
    """A copy of the shared home, for a test that runs the pipeline in it."""
    return copy_home(pipeline_home[0], tmp_path / 'home')


@pytest.fixture(scope='module')
def sample(pipeline_home):
    return pipeline_home[1]


@pytest.fixture(scope='module')
def first_run(pipeline_home):
    return pipeline_home[2]


def test_every_component_executes_and_is_recorded(first_run, pipeline_home):
    assert component_states(pipeline_home[3]) == {c: 'COMPLETE' for c in TRAINING_COMPONENTS}
    for component in TRAINING_COMPONENTS:
        assert component in first_run.stdout      # one progress line each
    assert 'Transform' in first_run.stdout and 'Done in' in first_run.stdout


def test_pushed_version_serves_predictions(pipeline_home, schema):
    home = pipeline_home[0]
    pushed = versions(serving_model_dir(home))
    assert len(pushed) == 1 and pushed[0].isdigit()
    model_dir = os.path.join(serving_model_dir(home), pushed[0])
    serve = tf.saved_model.load(model_dir).signatures['serving_default']
    rows = [to_instance(r, schema) for r in read_rows(20)]
    probabilities = serve(examples=tf.constant([to_example(r) for r in rows]))['probabilities']
    assert probabilities.shape == (20, 1)
    assert np.all((probabilities.numpy() > 0) & (probabilities.numpy() < 1))


def test_rerun_on_same_data_is_served_from_cache(rerun_home):
    home, _, result = rerun_home
    assert result.returncode == 0, result.stderr
    pushed_before = [runs(home)[-1].pushed_version]     # by the first run
    states = _states(home)
    upstream_of_evaluation = ['CsvExampleGen', 'StatisticsGen', 'ImportSchemaGen',
                              'ExampleValidator', 'ExampleValidationGate', 'Transform', 'Trainer']
    assert {c: states[c] for c in upstream_of_evaluation} == {
        c: 'CACHED' for c in upstream_of_evaluation}
    assert result.stdout.count('(cached)') >= len(upstream_of_evaluation)
    # The Evaluator blesses the cached model again; the Pusher does not push it twice.
    assert versions(serving_model_dir(home)) == pushed_before
    assert f'model unchanged: version {pushed_before[-1]} in ' in result.stdout


def test_damaged_batch_stops_before_training_and_pushes_nothing(first_run, home, tmp_path):
    rows = read_rows(2000)
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row['payment_type'] = 'Bitcoin'
        if i % 5 == 0:
            row['fare'] = '-12.5'
        if i % 7 == 0:
            row['trip_start_hour'] = '31'
    pushed_before = versions(serving_model_dir(home))

    result = _run(home, write_csv(rows, str(tmp_path / 'damaged')))

    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith('error: ExampleValidationGate failed: DataAnomaliesError:')
    for feature, kind in [('payment_type', 'ENUM_TYPE_UNEXPECTED_STRING_VALUES'),
                          ('fare', 'FLOAT_TYPE_SMALL_FLOAT'),
                          ('trip_start_hour', 'INT_TYPE_BIG_INT')]:
        assert f'{feature}: {kind}' in error, error
    states = _states(home)
    assert states['ExampleValidationGate'] == 'FAILED'
    assert not {'Transform', 'Trainer', 'Evaluator', 'Pusher'} & set(states)
    assert versions(serving_model_dir(home)) == pushed_before
    listed = subprocess.run([sys.executable, '-m', 'runner', 'runs', '--home', home],
                            capture_output=True, text=True)
    newest = listed.stdout.splitlines()[1]
    assert 'failed at ExampleValidationGate' in newest and newest.endswith('-')


def test_draft_schema_from_the_latest_statistics(pipeline_home, tmp_path):
    output = tmp_path / 'draft.pbtxt'
    result = subprocess.run([sys.executable, '-m', 'runner', 'draft-schema', '--home',
                             pipeline_home[0],
                             '--output', str(output)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    draft = output.read_text()
    for name in ('fare', 'payment_type', 'trip_start_hour', 'tips'):
        assert f'name: "{name}"' in draft
