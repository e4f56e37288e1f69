"""The model server against hostile clients on the same host: raw sockets for
HTTP framing, the official stubs for gRPC, a real server process each time,
which must answer correctly afterwards and keep its memory."""

import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import threading
import time

import grpc
import psutil
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    predict_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.local_server import ModelServer
from tests.support import refused, reload_config, service_stubs, to_example

pytestmark = pytest.mark.e2e
MODEL = 'chicago_taxi'
LIMIT = 1 << 20
METRICS = '/monitoring/prometheus/metrics'


@pytest.fixture(scope='module')
def base(exported_model, tmp_path_factory):
    path = tmp_path_factory.mktemp('models') / MODEL
    shutil.copytree(exported_model[0], path / '1')
    return path


@pytest.fixture(scope='module')
def server(base, tmp_path_factory):
    monitoring = tmp_path_factory.mktemp('config') / 'monitoring.config'
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS}" }}\n')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     f'--max_message_bytes={LIMIT}', '--rest_api_timeout_in_ms=2000',
                     f'--monitoring_config_file={monitoring}') as running:
        yield running


@pytest.fixture(scope='module')
def rows(raw_instances):
    return [to_example(r) for r in raw_instances[:3]]


def _http(server, raw: bytes, read_seconds: float = 5) -> bytes:
    """Sends raw bytes to the REST port; returns all that comes back until the server
    closes or goes quiet."""
    with socket.create_connection(('127.0.0.1', server.rest_port), timeout=read_seconds) as s:
        s.sendall(raw)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass      # a keep-alive connection: the answer came, the server waits for more
        return b''.join(chunks)


def _statuses(reply: bytes):
    return [int(code) for code in re.findall(rb'HTTP/1\.1 (\d{3}) ', reply)]


def _post(path: str, headers: str, body: bytes = b'') -> bytes:
    return f'POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n'.encode() + body


def _predict_body(rows) -> bytes:
    return json.dumps({'instances': [{'b64': base64.b64encode(r).decode()} for r in rows]}
                      ).encode()


def _still_answers(server):
    assert server.rest('GET', f'/v1/models/{MODEL}')[0] == 200


PREDICT = f'/v1/models/{MODEL}:predict'


@pytest.mark.parametrize('headers, status', [
    ('Content-Length: -1\r\n', 400),
    ('Content-Length: +10\r\n', 400),
    ('Content-Length: 1_0\r\n', 400),
    ('Content-Length: 10\r\nContent-Length: 10\r\n', 400),
    (f'Content-Length: {2 * LIMIT}\r\n', 413),
    ('', 411),
    ('Transfer-Encoding: gzip\r\n', 501),
    ('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', 400),
])
def test_malformed_framing_is_refused_before_the_body_is_read(server, headers, status):
    started = time.monotonic()
    reply = _http(server, _post(PREDICT, headers))
    assert _statuses(reply) == [status], reply
    assert b'Connection: close' in reply and time.monotonic() - started < 4
    _still_answers(server)


@pytest.mark.parametrize('length', ['12abc', '-5', '1_000'])
def test_a_client_sending_a_body_after_a_broken_content_length_reads_its_400(server, length):
    """The 400 goes out on the headers alone; the client goes on sending its body. The
    server reads and drops what comes for a while before it closes (as for a refused
    body): closed at once with bytes unread, the kernel reset the connection, and the
    client lost the answer (BrokenPipeError or ConnectionResetError)."""
    body = b'x' * (2 * LIMIT)
    with socket.create_connection(('127.0.0.1', server.rest_port), timeout=10) as s:
        s.sendall(_post(PREDICT, f'Content-Length: {length}\r\n', body[:1000]))
        time.sleep(0.5)                      # the answer is out, the socket shut for writing
        s.sendall(body)
        reply = b''.join(iter(lambda: s.recv(65536), b''))
    assert _statuses(reply) == [400], reply
    assert b'Content-Length' in reply
    _still_answers(server)


def test_a_body_over_the_limit_is_neither_read_nor_echoed(server):
    body = b'{"instances": ["' + b'x' * (2 * LIMIT) + b'"]}'
    reply = _http(server, _post(PREDICT, f'Content-Length: {len(body)}\r\n', body))
    assert _statuses(reply) == [413] and len(reply) < 1000


def _chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [f'{len(body[i:i + size]):x}\r\n'.encode() + body[i:i + size] + b'\r\n'
             for i in range(0, len(body), size)]
    return b''.join(parts) + b'0\r\n\r\n'


def test_a_chunked_body_is_read_as_chunked_never_as_a_next_request(server, rows):
    body = _predict_body(rows)
    request = _post(PREDICT, 'Transfer-Encoding: chunked\r\n', _chunked(body))
    follow = f'GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode()
    reply = _http(server, request + follow)
    assert _statuses(reply) == [200, 200]         # the predict, then the status: no third
    assert b'"predictions"' in reply and b'model_version_status' in reply


def test_a_chunked_body_over_the_limit_is_refused(server):
    reply = _http(server, _post(PREDICT, 'Transfer-Encoding: chunked\r\n',
                                _chunked(b'x' * (LIMIT + 10), size=1 << 16)))
    assert _statuses(reply) == [413]
    _still_answers(server)


def test_idle_and_trickling_connections_are_closed(server):
    silent = [socket.create_connection(('127.0.0.1', server.rest_port)) for _ in range(50)]
    slow = socket.create_connection(('127.0.0.1', server.rest_port))
    slow.sendall(_post(PREDICT, 'Content-Length: 100\r\n'))
    time.sleep(1)
    slow.sendall(b'{')                              # a byte now and then, never the rest
    time.sleep(3.5)                                 # the timeout is 2 s
    for connection in silent + [slow]:
        connection.settimeout(1)
        try:
            reply = connection.recv(100)
        except ConnectionResetError:
            reply = b''                             # closed, as it should be
        connection.close()
        assert reply == b'' or reply.startswith(b'HTTP/1.1 408'), reply
    _still_answers(server)


def test_a_burst_of_64_clients_gets_no_reset(server, rows):
    body = _predict_body(rows[:1])
    failures, answered = [], []

    def client():
        try:
            for _ in range(20):
                status, _ = server.rest('POST', PREDICT, raw=body)
                answered.append(status)
        except OSError as error:
            failures.append(error)
    threads = [threading.Thread(target=client) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and answered == [200] * 64 * 20


def _rss(server):
    return psutil.Process(server.process.pid).memory_info().rss


@pytest.mark.parametrize('size', [300_000, 10 ** 12])
def test_a_small_request_cannot_ask_for_a_huge_tensor(server, size):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    tensor = request.inputs['examples']
    tensor.dtype = tf.string.as_datatype_enum
    tensor.tensor_shape.dim.add(size=size)
    tensor.string_val.append(b'x' * 100)
    before = _rss(server)
    with pytest.raises(grpc.RpcError) as raised:
        service_stubs(server.channel())[0].Predict(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f'Input examples: shape [{size}] asks for')
    assert _rss(server) - before < 20 << 20


def test_garbage_examples_are_invalid_argument_logged_without_traceback(server):
    predict = service_stubs(server.channel())[0]
    for length in range(1, 21):              # never a valid tf.Example: varints run on
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs['examples'].CopyFrom(
            tf.make_tensor_proto([b'\xff' * length + b'\xe9'], dtype=tf.string))
        with pytest.raises(grpc.RpcError) as raised:
            predict.Predict(request, timeout=30)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert '\n' not in raised.value.details()
    assert 'Traceback' not in server.log()



def test_a_client_still_sending_a_refused_body_reads_the_answer(server):
    """The 413 goes out on the headers alone; the client, not waiting for it, goes on
    sending its body. The server reads and drops that body before it hangs up, so the
    client is not reset mid-write and reads the 413 (a bounded lingering close)."""
    body = b'x' * (4 * LIMIT)
    with socket.create_connection(('127.0.0.1', server.rest_port), timeout=10) as s:
        s.sendall(_post(PREDICT, f'Content-Length: {len(body)}\r\n'))
        time.sleep(0.5)                      # the answer is out, the socket shut for writing
        s.sendall(body)                      # reset here (EPIPE) if the server just closed
        reply = b''.join(iter(lambda: s.recv(65536), b''))
    assert _statuses(reply) == [413], reply
    _still_answers(server)

@pytest.mark.parametrize('path, body', [
    (PREDICT, b'[' * 100_000),
    (PREDICT, json.dumps({'instances': [
        {'b64': base64.b64encode(random.Random(0).randbytes(40)).decode()}]}).encode()),
    (f'/v1/models/{MODEL}/versions/99999999999999999999999:predict', b'{"instances": ["x"]}'),
], ids=['deep nesting', 'noise for an example', 'version beyond int64'])
def test_malformed_rest_input_is_400(server, path, body):
    status, reply = server.rest('POST', path, raw=body)
    assert status == 400, reply
    assert '\n' not in reply['error'] and len(reply['error']) <= 1000
    _still_answers(server)


def _count_lines(text, prefix):
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_made_up_model_names_do_not_grow_the_metrics(server, rows):
    predict = service_stubs(server.channel())[0]
    before = len(server.rest('GET', METRICS)[1])
    for _ in range(300):
        name = ''.join(random.choices(string.ascii_letters, k=65536))
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
        with pytest.raises(grpc.RpcError):
            predict.Predict(request, timeout=30)
        server.rest('POST', f'/v1/models/{name[:2000]}:predict', raw=b'{}')
    text = server.rest('GET', METRICS)[1]
    assert len(text) - before < 2000
    assert _count_lines(text, ':tensorflow:serving:request_count{model_name="__unknown__",'
                              'status="NOT_FOUND"}')


def test_the_reload_rpc_is_refused_unless_enabled(server, base):
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=MODEL, base_path=str(base),
                                        model_platform='tensorflow')
    with pytest.raises(grpc.RpcError) as raised:
        service_stubs(server.channel())[1].HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=30)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert '--allow_model_config_reload' in raised.value.details()


def test_an_enabled_reload_may_only_name_the_allowed_places(base, rows, tmp_path):
    logs = tmp_path / 'logs'
    config_file = tmp_path / 'models.config'
    config_file.write_text(f'''model_config_list {{ config {{
      name: "{MODEL}" base_path: "{base}" model_platform: "tensorflow"
      logging_config {{ log_collector_config {{ type: "file" filename_prefix: "{logs}/taxi" }}
                       sampling_config {{ sampling_rate: 1.0 }} }} }} }}''')
    with ModelServer(f'--model_config_file={config_file}', '--allow_model_config_reload',
                     rest=False) as server:
        predict, models, _ = service_stubs(server.channel())
        elsewhere = model_server_config_pb2.ModelServerConfig()
        elsewhere.model_config_list.config.add(name=MODEL, base_path='/etc',
                                               model_platform='tensorflow')
        code, details = refused(reload_config, models, elsewhere)
        assert code == grpc.StatusCode.PERMISSION_DENIED and '/etc is outside' in details
        logs_elsewhere = model_server_config_pb2.ModelServerConfig()
        model = logs_elsewhere.model_config_list.config.add(
            name=MODEL, base_path=str(base), model_platform='tensorflow')
        model.logging_config.log_collector_config.filename_prefix = '/root/.ssh/x'
        model.logging_config.sampling_config.sampling_rate = 1.0
        code, details = refused(reload_config, models, logs_elsewhere)
        assert code == grpc.StatusCode.PERMISSION_DENIED and '/root/.ssh/x is outside' in details
        code, details = refused(reload_config, models, model_server_config_pb2.ModelServerConfig(
            model_config_list=model_server_config_pb2.ModelConfigList()))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and 'unload every model' in details
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
        assert predict.Predict(request, timeout=30).model_spec.version.value == 1
        deadline = time.time() + 20
        while not list(logs.glob('taxi-*')) and time.time() < deadline:
            time.sleep(0.2)
        [log_file] = logs.glob('taxi-*')
    assert oct(log_file.stat().st_mode & 0o777) == '0o600'
    assert oct(logs.stat().st_mode & 0o777) == '0o700'


def _available(models, name=MODEL):
    response = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={'name': name}), timeout=30)
    return [s.version for s in response.model_version_status if s.state == 30]


def test_version_swaps_do_not_grow_memory(exported_model, tmp_path):
    base = tmp_path / MODEL
    shutil.copytree(exported_model[0], base / '1')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1', rest=False) as server:
        models = service_stubs(server.channel())[1]

        def swap_to(version):
            shutil.copytree(exported_model[0], base / str(version),
                            ignore=shutil.ignore_patterns('saved_model.pb'))
            shutil.copy(os.path.join(exported_model[0], 'saved_model.pb'), base / str(version))
            deadline = time.time() + 60
            while _available(models) != [version]:
                assert time.time() < deadline
                time.sleep(0.1)
            shutil.rmtree(base / str(version - 1))
        for version in (2, 3):              # TensorFlow's one-time costs of a second session
            swap_to(version)
        time.sleep(2.5)                      # the unloaded versions are collected at the polls
        start = _rss(server)
        for version in range(4, 16):         # bench/soak.py swaps for longer
            swap_to(version)
        time.sleep(2.5)
        growth = _rss(server) - start
    assert growth < 30 << 20, f'{growth / 2**20:.1f} MB after 12 swaps'


def test_sigterm_drains_then_exits(base, rows, tmp_path):
    # A batch that waits 3 s to fill keeps a call under way while the server drains.
    batching = tmp_path / 'batching.txt'
    batching.write_text('max_batch_size { value: 128 } batch_timeout_micros { value: 3000000 }'
                        ' num_batch_threads { value: 1 }\n')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}', '--enable_batching',
                     f'--batching_parameters_file={batching}', rest=False) as server:
        predict = service_stubs(server.channel())[0]
        waiting = predict_pb2.PredictRequest()
        waiting.model_spec.name = MODEL
        waiting.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
        results = {}

        def slow_call():
            try:
                results['slow'] = predict.Predict(waiting, timeout=60).model_spec.version.value
            except grpc.RpcError as error:
                results['slow'] = error.code()
        caller = threading.Thread(target=slow_call)
        caller.start()
        time.sleep(1)                               # under way, waiting for its batch
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        health = health_pb2_grpc.HealthStub(server.channel())
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        small = predict_pb2.PredictRequest()
        small.model_spec.name = MODEL
        small.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
        with pytest.raises(grpc.RpcError) as refused:
            predict.Predict(small, timeout=5)
        caller.join()
        code = server.process.wait(timeout=30)
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert results['slow'] == 1 and code == 0


def test_a_dead_request_log_never_blocks_shutdown(base, rows, tmp_path):
    (tmp_path / 'file').write_text('a regular file, not a directory')
    config_file = tmp_path / 'models.config'
    config_file.write_text(f'''model_config_list {{ config {{
      name: "{MODEL}" base_path: "{base}" model_platform: "tensorflow"
      logging_config {{ log_collector_config {{ type: "file"
                                               filename_prefix: "{tmp_path}/file/taxi" }}
                       sampling_config {{ sampling_rate: 1.0 }} }} }} }}''')
    monitoring = tmp_path / 'monitoring.config'
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS}" }}\n')
    with ModelServer(f'--model_config_file={config_file}',
                     f'--monitoring_config_file={monitoring}') as server:
        predict = service_stubs(server.channel())[0]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
        for _ in range(20):
            predict.Predict(request, timeout=30)
        time.sleep(1.5)
        metrics = server.rest('GET', METRICS)[1]
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = server.process.wait(timeout=60)
    assert code == 0 and time.monotonic() - started < 20
    assert _count_lines(metrics, ':tensorflow:serving:request_log_errors{')
