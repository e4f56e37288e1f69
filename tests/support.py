"""What tests share besides fixtures: the embedded rows as dicts, instances and
tf.Examples; a pipeline run on a small sample and its records; a copy of a
home; a served model's answers; waiting for a condition."""

import contextlib
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from pipeline import mlmd
from pipeline.config import DEFAULT_DATA_ROOT, DEFAULT_SCHEMA_FILE, REPO_ROOT
from pipeline.store_url import Store

DATA_CSV = os.path.join(DEFAULT_DATA_ROOT, 'data.csv')


def read_rows(limit=None):
    """The embedded CSV as dicts of strings ('' where a cell is empty)."""
    with open(DATA_CSV, newline='') as f:
        rows = list(csv.DictReader(f))
    return rows[:limit] if limit else rows


def load_schema():
    import tensorflow_data_validation as tfdv
    return tfdv.load_schema_text(DEFAULT_SCHEMA_FILE)


def to_instance(row, schema):
    """A CSV row as a TFT instance dict: one value, or none where the cell is empty."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    cast = {schema_pb2.INT: int, schema_pb2.FLOAT: float, schema_pb2.BYTES: str.encode}
    instance = {}
    for feature in schema.feature:
        text = row.get(feature.name, '')
        instance[feature.name] = [cast[feature.type](float(text) if feature.type == schema_pb2.INT
                                                     else text)] if text != '' else []
    return instance


def to_example(instance, drop=('tips',)):
    """A TFT instance dict as a serialized tf.Example, as a client would send it."""
    from common import examples
    return examples.example({name: values for name, values in instance.items()
                             if name not in drop and values}).SerializeToString()


# The small pipeline run tests share (conftest's pipeline_home): rows and steps.
PIPELINE_SAMPLE_ROWS = 3000
PIPELINE_TRAIN_STEPS = 60


def write_csv(rows, directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'data.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return directory


def runner(*args, cwd=REPO_ROOT, timeout=900, env=None):
    """`python -m runner ARGS`, run to its end (env: its environment, else this
    process's): its CompletedProcess (text)."""
    return subprocess.run([sys.executable, '-m', 'runner', *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def local_args(home, data_root, *extra):
    """`runner local`'s arguments for a small sample: few steps, a low AUC bar."""
    return ['local', '--home', home, '--data-root', data_root,
            '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5', *extra]


def run_pipeline(home, data_root, *extra):
    """`python -m runner local` on a small sample with few steps (and a low AUC bar)."""
    return runner(*local_args(home, data_root, *extra), timeout=600)


def runs(home, pipeline_name='chicago-taxi'):
    """The home's pipeline runs from ML Metadata, newest first."""
    return mlmd.load_runs(mlmd.connect(Store.sqlite(os.path.join(home, 'metadata.db'))),
                          pipeline_name)


def component_states(run):
    return {node: component.state for node, component in run.components.items()}


MODEL = 'chicago_taxi'


def service_stubs(channel):
    """(PredictionService, ModelService, Health) stubs on a gRPC channel."""
    from grpc_health.v1 import health_pb2_grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
    return (prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
            health_pb2_grpc.HealthStub(channel))


def predict_request(rows, **spec):
    """A PredictRequest of serialized tf.Examples rows; spec sets ModelSpec fields
    (name, default chicago_taxi; version; version_label; signature_name)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop('name', MODEL)
    for key, value in spec.items():
        if key == 'version':
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
    return request


def predict(stub, rows, **spec):
    """The PredictResponse to serialized tf.Examples rows (predict_request's spec)."""
    return stub.Predict(predict_request(rows, **spec), timeout=30)


def served_version(target, rows):
    """The version of chicago_taxi at target that answers a Predict of the serialized
    tf.Examples rows."""
    import grpc
    with grpc.insecure_channel(target) as channel:
        return predict(service_stubs(channel)[0], rows).model_spec.version.value


def reload_config(stub, config, timeout=120):
    """ModelService.HandleReloadConfigRequest with config; its response."""
    from tensorflow_serving.apis import model_management_pb2
    return stub.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=timeout)


def refused(call, *args, timeout=60):
    """(status code, details) of a gRPC call (with a deadline) that must fail."""
    import grpc
    import pytest
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, timeout=timeout)
    return raised.value.code(), raised.value.details()


def copy_home(home, target):
    """A copy of a pipeline home to run in. Its ML Metadata still names the original's
    artifacts (read, never written, by the copy's runs)."""
    shutil.copytree(home, target)
    return str(target)


# The training pipeline's nodes, as a run records them.
TRAINING_COMPONENTS = ['CsvExampleGen', 'RunManifest', 'StatisticsGen', 'ImportSchemaGen',
                       'ExampleValidator', 'ExampleValidationGate', 'Transform',
                       'latest_hyperparameters_resolver', 'Trainer',
                       'latest_blessed_model_resolver', 'Evaluator', 'ServingCanary', 'Pusher']


def prediction_key(row, types):
    """A row's raw features, normalized so that batch output and client input compare."""
    key = []
    for name, kind in sorted(types.items()):
        value = row.get(name, '')
        if value in ('', None) or name == 'tips':
            continue
        key.append((name, round(float(value), 3) if kind in (int, float) else str(value)))
    return tuple(key)


def online_predictions(base_path, rows):
    """The model server's probabilities for rows (dicts of typed raw features), serving
    the versions under base_path."""
    from serving.client import ServingClient
    from serving.local_server import ModelServer
    with ModelServer('--model_name=chicago_taxi', f'--model_base_path={base_path}',
                     rest=False) as server:
        client = ServingClient(server.target)
        try:
            return client.predict('chicago_taxi', rows)[:, 0]
        finally:
            client.close()


def assert_batch_agrees_with_online(home, input_dir, batch_rows):
    """Batch predictions (rows of predictions.csv) are the model server's for the same
    rows (input_dir's data.csv), serving the home's pushed versions, within 1e-6."""
    import pytest

    from serving.client import read_csv, schema_types
    types = schema_types(DEFAULT_SCHEMA_FILE)
    online_rows = read_csv(os.path.join(input_dir, 'data.csv'), types)
    online = online_predictions(serving_model_dir(home), online_rows)
    expected = {prediction_key(row, types): p for row, p in zip(online_rows, online, strict=True)}
    batch = {prediction_key(row, types): float(row['probability']) for row in batch_rows}
    assert batch.keys() == expected.keys()
    for key, probability in batch.items():
        assert probability == pytest.approx(expected[key], abs=1e-6)


def serving_model_dir(home):
    return os.path.join(home, 'serving_model', 'chicago_taxi')


def versions(directory):
    """The names under a model's base path (its versions), sorted; none if it is missing."""
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def free_ports(count):
    """`count` distinct TCP ports free on 127.0.0.1 now (the system's choice)."""
    import socket
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(('127.0.0.1', 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for(condition, seconds=60):
    """condition()'s first true value, asked every 0.2 s; TimeoutError after `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f'gave up waiting after {seconds} s')


@contextlib.contextmanager
def mounted_tmpfs(mount, options):
    """A tmpfs mounted at mount with options (needs root and mount permission; the
    test skips without them), unmounted afterwards, even when the test fails."""
    import pytest
    mount.mkdir()
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(mount)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip('needs permission to mount a tmpfs (root): ' + result.stderr.decode())
    try:
        yield mount
    finally:
        subprocess.run(['umount', '--lazy', str(mount)], check=True)


def started_run(home, data_root, *extra, env=None):
    """`runner local` on a small sample (local_args) in a process group of its own,
    stdout and stderr piped (env: the process's environment, else this one's): the
    Popen."""
    return subprocess.Popen([sys.executable, '-m', 'runner', *local_args(home, data_root, *extra)],
                            cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


# A session leader with a child of its own, as Flink's worker pool boots SDK workers and
# Airflow's scheduler forks task processes: the child's pid on its first line.
SESSION_LEADER = '''
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
print(child.pid, flush=True)
time.sleep(120)
'''


def recorded_session_leader(pid_file):
    """SESSION_LEADER started in a session of its own and recorded in pid_file, as
    operations/local_processes.py records what it starts: (the leader's Popen, its
    child's psutil.Process)."""
    import psutil

    from operations import local_processes
    leader = subprocess.Popen([sys.executable, '-c', SESSION_LEADER], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    child = psutil.Process(int(leader.stdout.readline()))
    local_processes.record(pid_file, leader.pid)
    return leader, child


def finished(process):
    """(exit code, stdout, stderr) of a started_run once it ends."""
    out, err = process.communicate(timeout=600)
    return process.returncode, out.decode(), err.decode()


def as_user(name):
    """This process's environment with another login name (getpass reads it there)."""
    return {**os.environ, 'USER': name, 'LOGNAME': name}


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL 15 server of the caller's own (operations/store_server.py) on a free
    port of 127.0.0.1, its data in a fresh directory under /tmp (pytest's are closed
    to the `postgres` user it runs as under root); stopped and removed afterwards,
    even when the test fails. Skips without PostgreSQL 15."""
    import pytest

    from operations import store_server
    from serving.local_server import free_port
    if not store_server.installed():
        pytest.skip(f'needs PostgreSQL 15 in {store_server.BIN_DIR} (apt-get install '
                    'postgresql-15)')
    directory = tempfile.mkdtemp(prefix='taxi-test-store-')
    server = store_server.LocalServer(directory, free_port())
    try:
        store_server.start(server, databases=())
        yield server
    finally:
        try:
            store_server.stop(server)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def new_database(server, prefix='store'):
    """A new, empty database on a test's PostgreSQL server: its Store."""
    from operations import store_server
    return store_server.create_database(server, f'{prefix}_{uuid.uuid4().hex[:12]}')


def store_runs(store, pipeline_name='chicago-taxi'):
    """A store's pipeline runs from ML Metadata, newest first."""
    return mlmd.load_runs(mlmd.connect(store), pipeline_name)


def read_until(process, text, seconds=600):
    """What the process printed, up to and including `text` (a component's line
    begins when the component starts, before its line ends)."""
    import select
    out, deadline = b'', time.time() + seconds
    while text.encode() not in out:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.time(), 0))
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b''
        if not chunk:
            raise AssertionError(f'{text!r} never came: {out.decode()}')
        out += chunk
    return out.decode()


def rss(pid):
    """A process's resident memory, in bytes, from /proc."""
    return _proc_status_kb(pid, 'VmRSS') << 10


def peak_rss(pid):
    """A process's highest resident memory since reset_peak_rss, in bytes, from /proc."""
    return _proc_status_kb(pid, 'VmHWM') << 10


def reset_peak_rss(pid):
    """Resets /proc's high-water mark of the process's memory to what it holds now (the
    test skips where the kernel or the permissions do not allow it)."""
    import pytest
    try:
        with open(f'/proc/{pid}/clear_refs', 'w') as f:
            f.write('5')
    except OSError as error:
        pytest.skip(f'cannot reset the peak memory of a process: {error}')


def _proc_status_kb(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise LookupError(f'/proc/{pid}/status has no {field}')


def airflow_processes(airflow_home):
    """The processes of an Airflow that `runner airflow start` started: the
    scheduler's and webserver's sessions, and whatever has its AIRFLOW_HOME in its
    environment."""
    import psutil

    from operations import local_airflow, local_processes
    found = []
    for name in local_airflow.PROCESSES:
        pid_file = os.path.join(airflow_home, 'run', f'{name}.pid')
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                found.extend(local_processes.session(int(f.read().split()[0])))
    for process in psutil.process_iter():
        try:
            if process.environ().get('AIRFLOW_HOME') == airflow_home:
                found.append(process)
        except psutil.Error:
            continue
    return found


def log_requests(prefix, instances, batch=20):
    """Request logs as the model server writes them (version 1 answering), for these
    raw rows."""
    from tensorflow_serving.apis import predict_pb2

    from serving.request_log import RequestLogger
    logger = RequestLogger(prefix, 1.0, 1 << 30, 3600)
    for start in range(0, len(instances), batch):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = 'chicago_taxi'
        request.inputs['examples'].string_val.extend(
            [to_example(i) for i in instances[start:start + batch]])
        response = predict_pb2.PredictResponse()
        response.model_spec.name = 'chicago_taxi'
        response.model_spec.version.value = 1
        logger.log('predict', request, response)
    logger.close()
