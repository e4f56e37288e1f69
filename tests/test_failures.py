"""Failures made to happen for real (the push killed mid-copy is in test_pusher): a
disk that fills during the Pusher, two runs on one home, a run killed mid-way, empty and
undecodable input, a port held by another socket. Each must end with one
`error:` line, nothing half-written where a reader would take it as whole, and
ML Metadata readable."""

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from pipeline import mlmd
from pipeline.store_url import Store
from serving.local_server import REPO, ModelServer, free_port
from tests.support import (
    PIPELINE_TRAIN_STEPS,
    copy_home,
    mounted_tmpfs,
    read_rows,
    run_pipeline,
    runs,
    served_version,
    to_example,
    to_instance,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def examples(schema):
    return [to_example(to_instance(r, schema)) for r in read_rows(5)]


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB disk."""
    with mounted_tmpfs(tmp_path / 'disk', 'size=1536k') as mount:
        yield mount


def test_a_disk_that_fills_during_the_push_names_the_cause(pipeline_home, small_disk, tmp_path,
                                                          examples):
    """The serving directory on a small disk that holds the version in service: the
    new model does not fit. The run says why, pushes nothing, records the Pusher as
    failed, and the version in service stays whole and served."""
    home = tmp_path / 'home'
    copy_home(pipeline_home[0], home)        # the stages before training come from the cache
    old = pipeline_home[3].pushed_version
    serving = small_disk / 'chicago_taxi'
    shutil.move(home / 'serving_model' / 'chicago_taxi' / old, serving / old)
    shutil.rmtree(home / 'serving_model')
    (home / 'serving_model').symlink_to(small_disk)
    result = run_pipeline(str(home), pipeline_home[1], '--train-steps',
                          str(PIPELINE_TRAIN_STEPS + 1))   # another model: it must be copied
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith('error: Pusher failed: OSError: [Errno 28] No space left')
    assert result.stderr.count('\n') == 1
    assert sorted(os.listdir(serving)) == [old]          # nothing half-written left behind
    record = runs(str(home))[0]
    assert record.state == 'failed at Pusher' and record.components['Pusher'].state == 'FAILED'
    with ModelServer('--model_name=chicago_taxi', f'--model_base_path={serving}',
                     rest=False) as server:
        assert served_version(server.target, examples) == int(old)


def _running_component(home):
    """The home's run once it is at Transform; None before (the store may not hold
    the run yet: ML Metadata makes the file, then its tables)."""
    store = Store.sqlite(os.path.join(home, 'metadata.db'))
    if mlmd.store_condition(store)[0] != mlmd.READY:
        return None
    record = runs(home)[0] if runs(home) else None
    return record if record and record.state.startswith('running at Transform') else None


def test_one_run_per_home_and_a_killed_run_shows_as_abandoned(pipeline_home, tmp_path):
    home = str(tmp_path / 'home')
    first = subprocess.Popen(
        [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root',
         pipeline_home[1], '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5'],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        live = wait_for(lambda: _running_component(home), seconds=300)
        os.kill(first.pid, signal.SIGSTOP)      # alive, holding the lock, at Transform
        second = run_pipeline(home, pipeline_home[1])
        assert second.returncode == 2
        assert second.stderr.startswith(f'error: home {home} is in use by pid {first.pid} '
                                        '(runner local, started ')
        assert second.stderr.count('\n') == 1
        listed = subprocess.run([sys.executable, '-m', 'runner', 'runs', '--home', home,
                                 '--json'], capture_output=True, text=True, cwd=REPO)
        assert json.loads(listed.stdout)[0]['state'] == 'running at Transform'
        report = subprocess.run([sys.executable, '-m', 'runner', 'report', '--home', home],
                                capture_output=True, text=True, cwd=REPO)
        assert report.returncode == 0, report.stderr
        page = open(os.path.join(home, 'report', 'index.html')).read()
        assert live.run_id in page and 'running at Transform' in page
        assert 'abandoned' not in page
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    listed = subprocess.run([sys.executable, '-m', 'runner', 'runs', '--home', home, '--json'],
                            capture_output=True, text=True, cwd=REPO)
    [entry] = json.loads(listed.stdout)
    assert entry['state'] == 'abandoned at Transform'
    again = run_pipeline(home, pipeline_home[1])         # the lock went with the process
    assert again.returncode == 0, again.stdout + again.stderr
    assert f'Run {entry["run_id"]} was abandoned at Transform' in again.stdout
    third = run_pipeline(home, pipeline_home[1])         # told once, not on every run
    assert third.returncode == 0 and 'abandoned' not in third.stdout
    assert runs(home)[-1].state == 'abandoned at Transform'
    # Its TOOK is fixed once it is known abandoned: the same before and after a later
    # run recorded it so (it was the time until that later run).
    listed = subprocess.run([sys.executable, '-m', 'runner', 'runs', '--home', home, '--json'],
                            capture_output=True, text=True, cwd=REPO)
    [recorded] = [e for e in json.loads(listed.stdout) if e['run_id'] == entry['run_id']]
    assert recorded['seconds'] == entry['seconds'], (recorded, entry)


@pytest.mark.parametrize('rows, kind', [(0, 'DATA_MISSING'), (40, 'DATASET_LOW_NUM_EXAMPLES')])
def test_too_little_data_stops_at_validation(rows, kind, pipeline_home, tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    lines = open(os.path.join(pipeline_home[1], 'data.csv')).read().splitlines()[:rows + 1]
    (data / 'data.csv').write_text('\n'.join(lines) + '\n')
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    result = run_pipeline(home, str(data))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith('error: ExampleValidationGate failed: DataAnomaliesError: '
                                    f'splits eval, train: <dataset>: {kind}')
    assert result.stderr.count('\n') == 1
    assert 'Transform' not in result.stdout


@pytest.mark.parametrize('content, problem', [
    (b'caf\xe9,1\n', 'line 4: bytes that are not UTF-8'),
    (b'1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22\n',
     'line 4: 22 fields where the header has 18'),
    (b'"' + b'x' * 200_000 + b'"' + b',1' * 17 + b'\n',
     'line 4: a field of 200000 characters, over the 131072 that CSV readers')],
    ids=['not-utf8', 'too-many-fields', 'field-too-large'])
def test_undecodable_or_malformed_input_names_the_file_and_line(content, problem, tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    head = ''.join(open(os.path.join(REPO, 'data', 'chicago_taxi', 'data.csv')).readlines()[:3])
    (data / 'trips.csv').write_bytes(head.encode() + content)
    result = run_pipeline(str(tmp_path / 'home'), str(data))
    assert result.returncode == 1
    assert result.stderr.startswith(f'error: CsvExampleGen failed: {data / "trips.csv"} {problem}')
    assert result.stderr.count('\n') == 1


def test_a_window_of_spans_trains_on_all_of_them(pipeline_home, tmp_path):
    data = tmp_path / 'spans'
    rows = read_rows(4500)
    for span, part in enumerate((rows[:1500], rows[1500:3000], rows[3000:]), start=1):
        write_csv(part, str(data / f'span-{span}'))
    home = str(tmp_path / 'home')
    result = run_pipeline(home, str(data), '--spans', '2')
    assert result.returncode == 0, result.stdout + result.stderr
    [record] = runs(home)
    assert record.span == 3
    files = {f['path']: f['source'] for f in record.recorded('data_files')}
    assert files == {f'span-3/span-{n}-data.csv': str(data / f'span-{n}' / 'data.csv')
                     for n in (2, 3)}
    import tensorflow_data_validation as tfdv
    counts = [tfdv.load_stats_binary(os.path.join(record.statistics.uri, f'Split-{split}',
                                                  'FeatureStats.pb')).datasets[0].num_examples
              for split in ('train', 'eval')]
    assert sum(counts) == 3000


def test_a_server_on_a_port_in_use_says_so(exported_model, tmp_path):
    base = tmp_path / 'models'
    shutil.copytree(exported_model[0], base / '1')
    port = free_port()
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        held.bind(('127.0.0.1', port))
        held.listen()
        result = subprocess.run(
            [sys.executable, '-m', 'serving.server', '--model_name=chicago_taxi',
             f'--model_base_path={base}', f'--port={port}', '--rest_api_port=0'],
            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2
    [line] = [text for text in result.stderr.splitlines() if text.startswith('error:')]
    assert line.startswith(f'error: --port {port}: cannot listen on 127.0.0.1:{port}')
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('flags, message', [
    (['--model_base_path=/nonexistent/models'], '--model_base_path /nonexistent/models: no such'),
    (['--model_config_file=/nonexistent.config'], '--model_config_file /nonexistent.config: no'),
])
def test_a_server_given_a_missing_path_says_which(flags, message):
    result = subprocess.run([sys.executable, '-m', 'serving.server', '--model_name=m', *flags],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and message in result.stderr
    assert 'Traceback' not in result.stderr


def test_the_client_names_a_missing_file(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'serving.client', '--model', 'm', '--csv',
                             str(tmp_path / 'none.csv')], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == \
        f'error: {tmp_path / "none.csv"}: No such file or directory'
    assert 'Traceback' not in result.stderr


@pytest.fixture
def read_only_dir(tmp_path):
    with mounted_tmpfs(tmp_path / f'ro-{uuid.uuid4().hex[:6]}', 'ro,size=64k') as mount:
        yield mount


def test_a_home_that_cannot_be_written_is_refused(read_only_dir):
    result = subprocess.run([sys.executable, '-m', 'runner', 'local', '--home',
                             str(read_only_dir / 'home')], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert result.stderr == f'error: --home {read_only_dir / "home"}: {read_only_dir} is not ' \
                            'writable\n'


def test_non_finite_numbers_stop_at_validation_named_by_feature(pipeline_home, tmp_path):
    rows = read_rows(3000)
    for index, row in enumerate(rows[:90]):
        if index % 3 == 0:
            row['fare'] = 'nan'
        elif index % 3 == 1:
            row['trip_miles'] = 'inf'
        else:
            row['tips'] = '-inf'
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    result = run_pipeline(home, write_csv(rows, str(tmp_path / 'data')))
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr
    assert error.startswith('error: ExampleValidationGate failed: DataAnomaliesError:')
    assert error.count('\n') == 1
    for feature, kind in [('fare', 'FLOAT_TYPE_HAS_NAN'), ('trip_miles', 'FLOAT_TYPE_HAS_INF'),
                          ('tips', 'FLOAT_TYPE_HAS_INF')]:
        assert re.search(f'{feature}: [^;]*{kind}', error), error
    assert 'Transform' not in result.stdout


def test_a_byte_order_mark_is_named_with_the_anomalies_it_causes(pipeline_home, tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    text = open(os.path.join(pipeline_home[1], 'data.csv'), 'rb').read()
    (data / 'data.csv').write_bytes(b'\xef\xbb\xbf' + text)
    result = run_pipeline(copy_home(pipeline_home[0], tmp_path / 'home'), str(data))
    assert result.returncode == 1 and result.stderr.count('\n') == 1
    assert result.stderr.startswith('error: ExampleValidationGate failed:')
    assert f'({data / "data.csv"} starts with a UTF-8 byte order mark (BOM)' in result.stderr


def _spaces_after_the_last_name(rows):
    rows[0][-1] += '  '


def _thousands_separator(rows):
    rows[4][rows[0].index('fare')] = '1,234.5'


@pytest.mark.parametrize('edit, problem', [
    (_spaces_after_the_last_name,
     "line 1: the header names 'tips' with 2 spaces after it, so each reads as a new column "
     "and the schema's as missing"),
    (_thousands_separator,
     "line 5: fare is '1,234.5', not a number (the schema's fare is FLOAT), so the whole "
     'column reads as strings: write numbers without thousands separators'),
], ids=['spaces-after-the-last-name', 'thousands-separator'])
def test_what_made_the_anomalies_is_named_by_file_and_line(edit, problem, pipeline_home,
                                                           tmp_path):
    """Spaces after the last header name are no longer dropped silently (as spaces around
    any other name, they make a column the schema does not know), and a float column
    holding "1,234.5" gets the file and line the runner's diagnosis names for other bad
    values."""
    with open(os.path.join(pipeline_home[1], 'data.csv'), newline='') as f:
        rows = list(csv.reader(f))
    edit(rows)
    data = tmp_path / 'data'
    data.mkdir()
    with open(data / 'data.csv', 'w', newline='') as f:
        csv.writer(f, lineterminator='\n').writerows(rows)
    result = run_pipeline(copy_home(pipeline_home[0], tmp_path / 'home'), str(data))
    assert result.returncode == 1 and result.stderr.count('\n') == 1, result.stderr
    assert result.stderr.startswith('error: ExampleValidationGate failed: DataAnomaliesError:')
    assert f'({data / "data.csv"} {problem}' in result.stderr, result.stderr
    assert 'Transform' not in result.stdout
