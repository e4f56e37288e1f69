"""The model server under load (issue 20): admission by cost before tensors are
built, health that never waits behind inference, REST that a crowd of slow
clients cannot take down, bounded replies, bad input answered as bad input,
memory that comes back. Real server processes on loopback, real sockets; the
figures (latencies, RSS) are bench/soak.py's."""

import base64
import glob
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import grpc
import psutil
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_status_pb2,
    predict_pb2,
    prediction_log_pb2,
)

from serving import example_requests
from serving.local_server import ModelServer
from serving.request_log import RequestLogger
from tests.support import (
    peak_rss,
    predict_request,
    refused,
    reset_peak_rss,
    rss,
    service_stubs,
    to_example,
)

pytestmark = pytest.mark.e2e
MODEL = 'chicago_taxi'
LIMIT = 2 << 20          # --max_message_bytes of the module's server
BIG = [('grpc.max_send_message_length', 1 << 30), ('grpc.max_receive_message_length', 1 << 30)]


@pytest.fixture(scope='module')
def base(exported_model, tmp_path_factory):
    path = tmp_path_factory.mktemp('models') / MODEL
    shutil.copytree(exported_model[0], path / '1')
    return path


@pytest.fixture(scope='module')
def server(base):
    """Default admission limits (2M elements a request, 4M in flight)."""
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     f'--max_message_bytes={LIMIT}') as running:
        yield running


@pytest.fixture(scope='module')
def rows(raw_instances):
    return [to_example(r) for r in raw_instances[:50]]


def _empty_examples(count, signature='serving_default'):
    """`count` empty serialized tf.Examples: 2 bytes each on the wire."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    tensor = request.inputs['examples']
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=count)
    tensor.string_val.extend([b''] * count)
    return request


def _post(server, path, body: bytes, timeout=60):
    request = urllib.request.Request(server.rest_url + path, data=body, method='POST')
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _get(server, path, timeout):
    with urllib.request.urlopen(server.rest_url + path, timeout=timeout) as response:
        return response.status


def _rss(server):
    return psutil.Process(server.process.pid).memory_info().rss


# --- Admission by cost --------------------------------------------------------------

def test_a_request_of_tiny_examples_is_refused_before_it_expands(server):
    """1M empty tf.Examples in 2 MB: 18M elements once parsed (18 features each),
    refused without a tensor built."""
    predict = service_stubs(server.channel(BIG))[0]
    before = _rss(server)
    code, details = refused(predict.Predict, _empty_examples(1_000_000))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert '--max_request_elements' in details and '\n' not in details
    assert _rss(server) - before < 1 << 30

    body = b'{"instances": [' + b','.join([b'""'] * 600_000) + b']}'
    status, reply = _post(server, f'/v1/models/{MODEL}:predict', body)
    assert status == 429 and '--max_request_elements' in reply['error']
    assert _rss(server) - before < 1 << 30


def test_a_tensor_shape_asking_for_too_many_elements_is_refused(server):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    tensor = request.inputs['examples']
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=200_000)
    tensor.string_val.extend([b''] * 200_000)
    code, details = refused(service_stubs(server.channel(BIG))[0].Predict, request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.startswith('The request expands to 3600000 elements')


# --- Width: what a request carries besides what the model reads (issue 30) -------------

def _wide_features(count):
    return ', '.join(f'"f{i}": 1.5' for i in range(count))


def test_a_body_naming_features_no_signature_takes_is_refused_unparsed(server, raw_instances):
    """A 1.6 MB REST :classify of one example of 120k features the model does not take
    is refused at the first name, without the body being parsed: it cost ~60x its size."""
    body = ('{"signature_name": "classification", "examples": [{'
            + _wide_features(120_000) + '}]}').encode()
    before = rss(server.process.pid)
    reset_peak_rss(server.process.pid)
    status, reply = _post(server, f'/v1/models/{MODEL}:classify', body)
    grown = peak_rss(server.process.pid) - before
    assert status == 400 and reply['error'].startswith(
        'The body names "f0", which is neither a feature nor an input any signature of the '
        'model takes: leave it out (its features: company, dropoff_census_tract'), reply
    assert grown < 3 * len(body), f'{grown >> 20} MB for a body of {len(body) >> 20} MB'

    # A feature another signature takes (the label) is refused for this one, by name.
    features = {k: v[0].decode() if isinstance(v[0], bytes) else v[0]
                for k, v in raw_instances[0].items() if v}
    body = json.dumps({'signature_name': 'classification',
                       'examples': [{k: v for k, v in features.items() if k != 'tips'},
                                    features]}).encode()
    status, reply = _post(server, f'/v1/models/{MODEL}:classify', body)
    assert status == 400 and reply['error'].startswith(
        'Example 1 has the feature "tips", which signature "classification" does not take: '
        'leave it out'), reply


def _wide_classify(count, rows):
    """A gRPC Classify of one taxi example carrying `count` more features."""
    request = example_requests.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = 'classification'
    example = tf.train.Example.FromString(rows[0])
    for i in range(count):
        example.features.feature[f'f{i}'].float_list.value.append(1.5)
    request.input.example_list.examples.append(example.SerializeToString())
    return request


def test_wide_examples_over_grpc_cost_their_bytes(server, rows):
    """Examples sent serialized reach the model as they came: one carrying 80k features
    the model does not parse is classified as without them, at the cost of its bytes
    (as messages, one such example of 6 MB took ~37x its size)."""
    channel = server.channel(BIG)
    wide = _wide_classify(80_000, rows)
    plain = _wide_classify(0, rows)
    classify = channel.unary_unary('/tensorflow.serving.PredictionService/Classify',
                                   request_serializer=lambda r: r.SerializeToString(),
                                   response_deserializer=lambda b: b)
    before = rss(server.process.pid)
    reset_peak_rss(server.process.pid)
    answer = classify(wide, timeout=60)
    grown = peak_rss(server.process.pid) - before
    assert answer == classify(plain, timeout=60)
    assert grown < 10 * wide.ByteSize(), f'{grown >> 20} MB for {wide.ByteSize() >> 20} MB'


def test_an_example_tensorflow_refuses_and_protobuf_reads_is_named_so(server, rows):
    """A feature map entry with its key alone is a valid tf.Example to protobuf, which
    TensorFlow's parser refuses: its message says so, not that the bytes are no
    tf.Example (which it said when TensorFlow quoted bytes that are not UTF-8)."""
    entry = b'\x0a\x01a'                                    # key "a", no value
    features = b'\x0a\x0b\x0a\x01z\x12\x06\x0a\x04\x0a\x02\xff\xfe' + b'\x0a\x03' + entry
    example = b'\x0a' + bytes([len(features)]) + features
    assert tf.train.Example.FromString(example).features.feature['z'].bytes_list.value
    code, details = refused(service_stubs(server.channel(BIG))[0].Predict,
                            predict_request([example]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("Could not parse example input: TensorFlow's parser refused an "
                              'example that protobuf reads as a tf.Example'), details


# --- Replies bounded like requests ------------------------------------------------------

def test_replies_over_the_message_limit_are_refused(server):
    """transform_features of 100k empty examples: a 0.2 MB request whose reply would
    pass the 2 MiB limit."""
    code, details = refused(service_stubs(server.channel(BIG))[0].Predict,
                             _empty_examples(100_000, 'transform_features'))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and '--max_message_bytes' in details

    body = json.dumps({'signature_name': 'transform_features',
                       'instances': [''] * 100_000}).encode()
    status, reply = _post(server, f'/v1/models/{MODEL}:predict', body)
    assert status == 429 and '--max_message_bytes' in reply['error']


# --- Bad input is bad input -------------------------------------------------------------

def _tensor(dims, dtype=types_pb2.DT_STRING, **values):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    tensor = request.inputs['examples']
    tensor.dtype = dtype
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    for field, value in values.items():
        setattr(tensor, field, value)
    return request


@pytest.mark.parametrize('request_', [
    _tensor([1] * 33),
    _tensor([0, 1 << 62]),
    _tensor([1 << 40, 1 << 40]),
    _tensor([1], dtype=9999),
    _tensor([1], dtype=types_pb2.DT_FLOAT, tensor_content=b'abc'),
], ids=['33 dims', 'dims [0, 2^62]', 'dims past int64', 'dtype 9999', 'partial value'])
def test_malformed_tensors_are_invalid_argument(server, request_):
    code, details = refused(service_stubs(server.channel(BIG))[0].Predict, request_)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert '\n' not in details and len(details) <= 1000


@pytest.mark.parametrize('method, path', [
    ('GET', f'/v1/models/{MODEL}/versions/{"9" * 5000}'),
    ('GET', f'/v1/models/{MODEL}/versions/{"9" * 5000}/metadata'),
    ('POST', f'/v1/models/{MODEL}/versions/{"9" * 5000}:predict'),
], ids=['status', 'metadata', 'predict'])
def test_a_version_of_thousands_of_digits_is_400(server, method, path):
    request = urllib.request.Request(server.rest_url + path, method=method,
                                     data=b'{"instances": [""]}' if method == 'POST' else None)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    reply = json.loads(raised.value.read())
    assert raised.value.code == 400 and len(reply['error']) <= 1000
    assert 'Traceback' not in server.log()


def test_control_characters_are_escaped_in_replies_and_logs(server, rows):
    request = predict_request(rows[:1])
    request.model_spec.name = 'taxi\x1b[2J\x07\n' + 'x' * 5000
    code, details = refused(service_stubs(server.channel(BIG))[0].Predict, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert '\\x1b[2J\\x07' in details and '\x1b' not in details and len(details) <= 1000
    time.sleep(0.5)
    log = server.log()
    assert '\\x1b[2J' in log and '\x1b' not in log and '\x07' not in log


def test_a_version_directory_past_int64_leaves_model_status_working(exported_model, tmp_path):
    base = tmp_path / MODEL
    shutil.copytree(exported_model[0], base / '1')
    shutil.copytree(exported_model[0], base / '99999999999999999999')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1') as running:
        models = service_stubs(running.channel(BIG))[1]
        time.sleep(2.5)                                  # two polls have seen it
        response = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
            model_spec={'name': MODEL}), timeout=30)
        assert [s.version for s in response.model_version_status] == [1]
        status, body = running.rest('GET', f'/v1/models/{MODEL}')
        assert status == 200 and body['model_version_status'][0]['version'] == '1'
        log = running.log()
    assert log.count('ignoring version directory 99999999999999999999') == 1


# --- Health, status and REST never wait behind inference ----------------------------------

@pytest.fixture(scope='module')
def busy_server(base, tmp_path_factory):
    """Two inference threads per port, and batches that wait 3 s to fill: a few
    requests keep every inference thread busy. A small budget of elements."""
    batching = tmp_path_factory.mktemp('batching') / 'batching.txt'
    batching.write_text('max_batch_size { value: 128 } batch_timeout_micros { value: 3000000 }'
                        ' num_batch_threads { value: 1 }\n')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}', '--enable_batching',
                     f'--batching_parameters_file={batching}', '--grpc_max_threads=2',
                     '--rest_api_num_threads=2', '--max_request_elements=1000',
                     '--max_elements_in_flight=1000') as running:
        yield running


def _in_background(call, *args):
    result = {}

    def run():
        try:
            result['value'] = call(*args)
        except Exception as error:     # the test asserts on it
            result['value'] = error
    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_health_and_status_answer_while_every_inference_thread_is_busy(busy_server, rows):
    predict, models, health = service_stubs(busy_server.channel(BIG))
    body = json.dumps({'instances': [{'b64': base64.b64encode(rows[0]).decode()}]}).encode()
    calls = [_in_background(predict.Predict, predict_request(rows[:1]), 60) for _ in range(4)]
    calls += [_in_background(_post, busy_server, f'/v1/models/{MODEL}:predict', body)
              for _ in range(4)]
    time.sleep(1)                                  # every inference thread waits for its batch
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == \
        health_pb2.HealthCheckResponse.SERVING
    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={'name': MODEL}), timeout=2)
    assert status.model_version_status[0].version == 1
    assert _get(busy_server, f'/v1/models/{MODEL}', timeout=2) == 200
    assert all(thread.is_alive() for thread, _ in calls)   # inference still under way
    for thread, _ in calls:
        thread.join()
    assert [type(result['value']).__name__ for _, result in calls[:4]] == ['PredictResponse'] * 4
    assert [result['value'][0] for _, result in calls[4:]] == [200] * 4


def test_the_in_flight_budget_refuses_at_once_and_frees_when_done(busy_server, rows):
    """50 examples of 18 features: 900 of the 1,000 elements in flight; a second such
    request is refused while the first waits for its batch, served after."""
    predict = service_stubs(busy_server.channel(BIG))[0]
    first, result = _in_background(predict.Predict, predict_request(rows), 60)
    time.sleep(1)
    code, details = refused(predict.Predict, predict_request(rows))
    assert first.is_alive()                        # refused while the first is in flight
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert '--max_elements_in_flight' in details and 'retry later' in details
    first.join()
    assert tf.make_ndarray(result['value'].outputs['probabilities']).shape == (50, 1)
    assert predict.Predict(predict_request(rows), timeout=60).model_spec.version.value == 1


def test_each_limit_says_which_it_is_and_the_flag_that_raises_it(busy_server):
    """100 JSON examples of 4 features: 1,800 elements once the model parses its 18 from
    each, over the 1,000 a request may expand to."""
    body = json.dumps({'signature_name': 'classification', 'examples': [
        {'fare': 9.25, 'payment_type': 'Cash', 'trip_start_hour': 19, 'trip_miles': 1.9}
    ] * 100}).encode()
    status, reply = _post(busy_server, f'/v1/models/{MODEL}:classify', body)
    assert status == 429, reply
    assert reply['error'].startswith('The request expands to 1800 elements (100 examples x 18 '
                                     'features parsed), over the limit of 1000 per request '
                                     '(--max_request_elements)')
    assert reply['error'].endswith('start the server with a higher --max_request_elements')


def test_a_small_predict_is_answered_while_the_inference_pool_is_busy(base, rows):
    """A batch-1 Predict runs on the event loop (handing it to a pool thread and back cost
    more than its own work): answered while ten Predicts of 100k examples queue for
    the server's one inference thread."""
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     '--grpc_max_threads=1', rest=False) as running:
        predict = service_stubs(running.channel(BIG))[0]
        heavy = [_in_background(predict.Predict, predict_request((rows * 2000)[:100_000]), 300)
                 for _ in range(10)]
        time.sleep(0.5)
        response = predict.Predict(predict_request(rows[:1]), timeout=60)
        assert any(thread.is_alive() for thread, _ in heavy)      # still under way
        assert tf.make_ndarray(response.outputs['probabilities']).shape == (1, 1)
        for thread, result in heavy:
            thread.join()
            assert isinstance(result['value'], predict_pb2.PredictResponse), result['value']


def test_rest_answers_while_hundreds_of_connections_trickle_headers(server, rows):
    trickling = []
    for _ in range(300):
        connection = socket.create_connection(('127.0.0.1', server.rest_port))
        connection.sendall(f'POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n'.encode())
        trickling.append(connection)
    try:
        for connection in trickling:
            connection.sendall(b'X')
        body = json.dumps({'instances': [{'b64': base64.b64encode(r).decode()}
                                         for r in rows[:3]]}).encode()
        assert _post(server, f'/v1/models/{MODEL}:predict', body, timeout=10)[0] == 200
        assert _get(server, f'/v1/models/{MODEL}', timeout=10) == 200
    finally:
        for connection in trickling:
            connection.close()


# --- Memory comes back ----------------------------------------------------------------------

def test_memory_comes_back_after_a_burst(base, rows):
    """Ten concurrent Predicts of 20k taxi examples (360k elements each; all admitted
    under the default limits): what the burst took is mostly handed back after it."""
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}', rest=False) as server:
        predict = service_stubs(server.channel(BIG))[0]
        request = predict_request((rows * 400)[:20_000])
        predict.Predict(request, timeout=120)           # first-use costs of this batch size
        time.sleep(2)
        before = _rss(server)
        peak = [before]
        done = threading.Event()

        def watch():
            while not done.wait(0.02):
                peak[0] = max(peak[0], _rss(server))
        watcher = threading.Thread(target=watch)
        watcher.start()
        calls = [_in_background(predict.Predict, request, 120) for _ in range(10)]
        for thread, _ in calls:
            thread.join()
        done.set()
        watcher.join()
        assert all(isinstance(r['value'], predict_pb2.PredictResponse) for _, r in calls)
        time.sleep(3)                                   # the trim after the burst
        after = _rss(server)
    grown, kept = peak[0] - before, after - before
    assert grown > 100 << 20, f'the burst took only {grown >> 20} MB: not a burst'
    assert kept < grown / 2, f'{kept >> 20} MB of the {grown >> 20} MB taken kept'


def _within(server, before, megabytes=50, seconds=20):
    """How far (MB) above `before` the server's RSS is once within `megabytes` of it, or
    after `seconds` (the trim comes 1-2 s after the last request)."""
    deadline = time.time() + seconds
    while True:
        grown = rss(server.process.pid) - before
        if grown < megabytes << 20 or time.time() > deadline:
            return grown >> 20
        time.sleep(0.2)


def test_memory_comes_back_after_bursts_of_any_kind(base, rows):
    """Four wide gRPC Classify calls at once (6 MB each, few elements: no trim followed
    them, and 0.8 GB stayed), then 3,000 batch-1 Predicts at once, cancelled by their
    clients: after each, the server is back within 50 MB of where it was."""
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}', rest=False) as server:
        channel = server.channel(BIG)
        classify = channel.unary_unary('/tensorflow.serving.PredictionService/Classify',
                                       request_serializer=lambda r: r.SerializeToString(),
                                       response_deserializer=lambda b: b)
        wide = _wide_classify(300_000, rows)
        classify(wide, timeout=120)                    # first-use costs of this path
        predict = service_stubs(channel)[0]
        small = predict_request(rows[:1])
        for _ in range(20):
            predict.Predict(small, timeout=60)
        time.sleep(3)
        before = rss(server.process.pid)
        calls = [_in_background(classify, wide, 120) for _ in range(4)]
        for thread, result in calls:
            thread.join()
            assert isinstance(result['value'], bytes), result['value']
        assert _within(server, before) < 50

        before = rss(server.process.pid)
        futures = [predict.Predict.future(small, timeout=120) for _ in range(3000)]
        time.sleep(0.05)
        for future in futures:
            future.cancel()
        assert _within(server, before) < 50


# --- Request logs keep their size limit -------------------------------------------------

def test_request_log_files_keep_their_size_limit(tmp_path):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs['examples'].CopyFrom(tf.make_tensor_proto([b'x' * 300], dtype=tf.string))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = MODEL
    huge = predict_pb2.PredictRequest()
    huge.CopyFrom(request)
    huge.inputs['examples'].CopyFrom(tf.make_tensor_proto([b'x' * 5000], dtype=tf.string))
    logger = RequestLogger(str(tmp_path / 'taxi'), 1.0, max_file_bytes=1000,
                           max_file_seconds=3600)
    for _ in range(10):
        logger.log('predict', request, response)
    logger.log('predict', huge, response)
    logger.close()
    files = glob.glob(str(tmp_path / 'taxi-*.tfrecord'))
    sizes = [os.path.getsize(path) for path in files]
    assert len(files) > 1 and max(sizes) <= 1000, sizes
    logged = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
              for path in sorted(files) for r in tf.data.TFRecordDataset(path)]
    assert len(logged) == 10 and logger.dropped == 1
