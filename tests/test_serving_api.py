"""The model server through TF Serving's official stubs and its REST API: a real
server process on loopback, serving the exported taxi model."""

import base64
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.local_server import ModelServer
from tests.support import predict_request, to_example

pytestmark = pytest.mark.e2e

MODEL = 'chicago_taxi'
VERSION = 7
ROWS = 40
MAX_MESSAGE_BYTES = 1 << 20
METRICS_PATH = '/monitoring/prometheus/metrics'


@pytest.fixture(scope='module')
def socket_path(tmp_path_factory):
    return str(tmp_path_factory.mktemp('socket') / 'grpc.sock')


@pytest.fixture(scope='module')
def server(exported_model, socket_path, tmp_path_factory):
    base = tmp_path_factory.mktemp('models') / MODEL
    shutil.copytree(exported_model[0], base / str(VERSION))
    monitoring = tmp_path_factory.mktemp('config') / 'monitoring.config'
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    with ModelServer(f'--model_name={MODEL}', f'--model_base_path={base}',
                     f'--monitoring_config_file={monitoring}',
                     f'--max_message_bytes={MAX_MESSAGE_BYTES}',
                     f'--grpc_socket_path={socket_path}') as running:
        yield running


@pytest.fixture(scope='module')
def serialized(raw_instances):
    return [to_example(r) for r in raw_instances[:ROWS]]


@pytest.fixture(scope='module')
def expected(exported_model, serialized):
    """Probabilities from the SavedModel called in this process."""
    serve = tf.saved_model.load(exported_model[0]).signatures['serving_default']
    return serve(examples=tf.constant(serialized))['probabilities'].numpy()


def _error(call, request):
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value.code(), raised.value.details()


def _examples_input(target, serialized):
    for record in serialized:
        target.example_list.examples.add().ParseFromString(record)


# --- gRPC: Predict -------------------------------------------------------------------

def test_predict_matches_the_in_process_saved_model(stubs, serialized, expected):
    response = stubs[0].Predict(predict_request(serialized))
    np.testing.assert_allclose(tf.make_ndarray(response.outputs['probabilities']), expected,
                               atol=1e-6)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == VERSION
    assert response.model_spec.signature_name == 'serving_default'


def test_predict_by_version_and_output_filter(stubs, serialized, expected):
    request = predict_request(serialized[:3], version=VERSION)
    request.output_filter.append('probabilities')
    response = stubs[0].Predict(request)
    assert list(response.outputs) == ['probabilities']
    np.testing.assert_allclose(tf.make_ndarray(response.outputs['probabilities']), expected[:3],
                               atol=1e-6)


def test_predict_over_the_unix_socket(server, socket_path, serialized, expected):
    with grpc.insecure_channel(f'unix:{socket_path}') as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request(serialized[:3]))
    np.testing.assert_allclose(tf.make_ndarray(response.outputs['probabilities']), expected[:3],
                               atol=1e-6)


@pytest.mark.parametrize('spec, code, message', [
    ({'name': 'foo'}, grpc.StatusCode.NOT_FOUND, 'Servable not found for request: Latest(foo)'),
    ({'version': 99}, grpc.StatusCode.NOT_FOUND,
     f'Servable not found for request: Specific({MODEL}, 99)'),
    ({'version_label': 'canary'}, grpc.StatusCode.INVALID_ARGUMENT,
     'Unrecognized servable version label: canary'),
    ({'signature_name': 'nope'}, grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
])
def test_predict_model_spec_errors(stubs, serialized, spec, code, message):
    assert _error(stubs[0].Predict, predict_request(serialized[:1], **spec)) == (code, message)


def test_predict_input_errors(stubs, serialized):
    predict = stubs[0].Predict
    missing = predict_pb2.PredictRequest()
    missing.model_spec.name = MODEL
    code, message = _error(predict, missing)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == ('input size does not match signature: 0!=1 len({}) != len({examples}). '
                       'Sent extra: {}. Missing but required: {examples}.')

    extra = predict_request(serialized[:1])
    extra.inputs['bogus'].CopyFrom(tf.make_tensor_proto([1.0]))
    code, message = _error(predict, extra)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and 'Sent extra: {bogus}' in message

    renamed = predict_pb2.PredictRequest()
    renamed.model_spec.name = MODEL
    renamed.inputs['inputs'].CopyFrom(tf.make_tensor_proto(serialized[:1], dtype=tf.string))
    assert _error(predict, renamed) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        'input tensor alias not found in signature: inputs. Inputs expected to be in the set '
        '{examples}.')

    wrong_type = predict_pb2.PredictRequest()
    wrong_type.model_spec.name = MODEL
    wrong_type.inputs['examples'].CopyFrom(tf.make_tensor_proto([1.5, 2.5]))
    assert _error(predict, wrong_type) == (
        grpc.StatusCode.INVALID_ARGUMENT, 'Expects arg[0] to be string but float is provided')

    wrong_shape = predict_request([serialized[:2]])
    code, message = _error(predict, wrong_shape)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and 'shape [1, 2]' in message

    bad_filter = predict_request(serialized[:1])
    bad_filter.output_filter.append('logits')
    assert _error(predict, bad_filter) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        'output tensor alias not found in signature: logits Outputs expected to be in the set '
        '{probabilities}.')


def test_garbage_examples_are_an_invalid_argument(stubs, serialized, expected):
    code, message = _error(stubs[0].Predict,
                           predict_request([b'\x00\xffnot a tf.Example'] + serialized[:1]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert 'Could not parse example input' in message
    # ... and the server is still answering.
    response = stubs[0].Predict(predict_request(serialized[:1]))
    np.testing.assert_allclose(tf.make_ndarray(response.outputs['probabilities']), expected[:1],
                               atol=1e-6)


# --- gRPC: Classify, Regress, MultiInference, metadata, status, health ----------------------

def test_classify_and_regress(stubs, serialized, expected):
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = MODEL
    classify.model_spec.signature_name = 'classification'
    _examples_input(classify.input, serialized)
    result = stubs[0].Classify(classify)
    assert result.model_spec.version.value == VERSION
    assert result.model_spec.signature_name == 'classification'
    labels = [[c.label for c in row.classes] for row in result.result.classifications]
    assert labels == [['0', '1']] * ROWS
    scores = np.array([[c.score for c in row.classes] for row in result.result.classifications])
    np.testing.assert_allclose(scores[:, 1], expected[:, 0], atol=1e-6)

    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = MODEL
    regress.model_spec.signature_name = 'regression'
    _examples_input(regress.input, serialized)
    values = [r.value for r in stubs[0].Regress(regress).result.regressions]
    np.testing.assert_allclose(values, expected[:, 0], atol=1e-6)


def test_classify_needs_a_classification_signature(server, stubs, serialized):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    _examples_input(request.input, serialized[:1])
    code, message = _error(stubs[0].Classify, request)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    # The signature and what it lacks, not the whole SignatureDef (shapes, tensor names).
    assert message == (
        'No classification inputs found in SignatureDef "serving_default": it takes the inputs '
        '{examples} and gives the outputs {probabilities}; classification needs one input, '
        '"inputs", of serialized tf.Examples: use the signature "classification"')
    # Over REST the same, before the body's examples are built.
    assert server.rest('POST', f'/v1/models/{MODEL}:classify',
                       {'examples': [{'fare': 1.0}] * 1000}) == (400, {'error': message})
    empty = classification_pb2.ClassificationRequest()
    empty.model_spec.name = MODEL
    empty.model_spec.signature_name = 'classification'
    assert _error(stubs[0].Classify, empty) == (grpc.StatusCode.INVALID_ARGUMENT, 'Input is empty.')


def test_multi_inference_runs_every_task(stubs, serialized, expected):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (('classification', 'tensorflow/serving/classify'),
                              ('regression', 'tensorflow/serving/regress')):
        task = request.tasks.add(method_name=method)
        task.model_spec.name = MODEL
        task.model_spec.signature_name = signature
    _examples_input(request.input, serialized[:5])
    results = stubs[0].MultiInference(request).results
    assert [r.model_spec.signature_name for r in results] == ['classification', 'regression']
    np.testing.assert_allclose([r.value for r in results[1].regression_result.regressions],
                               expected[:5, 0], atol=1e-6)
    assert len(results[0].classification_result.classifications) == 5


def test_model_metadata_lists_the_signatures(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
    request.model_spec.name = MODEL
    response = stubs[0].GetModelMetadata(request)
    assert response.model_spec.version.value == VERSION
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata['signature_def'].Unpack(signatures)
    serving = signatures.signature_def['serving_default']
    assert serving.inputs['examples'].dtype == types_pb2.DT_STRING
    assert serving.outputs['probabilities'].dtype == types_pb2.DT_FLOAT
    assert {'classification', 'regression', 'transform_features'} <= set(signatures.signature_def)
    code, _ = _error(stubs[0].GetModelMetadata,
                     get_model_metadata_pb2.GetModelMetadataRequest(model_spec=request.model_spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_model_status_and_health(server, stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    [status] = stubs[1].GetModelStatus(request).model_version_status
    assert (status.version, status.state) == (
        VERSION, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    request.model_spec.name = 'foo'
    assert _error(stubs[1].GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, 'Could not find any versions of model foo')
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ('', 'tensorflow.serving.PredictionService'):
            assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == \
                health_pb2.HealthCheckResponse.SERVING


# --- Malformed and oversized requests ----------------------------------------------------

def test_malformed_and_oversized_requests_leave_the_server_up(server, stubs, serialized):
    with grpc.insecure_channel(server.target) as channel:
        raw = channel.unary_unary('/tensorflow.serving.PredictionService/Predict')
        with pytest.raises(grpc.RpcError) as garbage:
            raw(b'\xff\x00\x12garbage that is not a PredictRequest')
        assert garbage.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)

    huge = predict_request([b'x' * (MAX_MESSAGE_BYTES + 1)])
    code, _ = _error(stubs[0].Predict, huge)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

    status, body = server.rest('POST', f'/v1/models/{MODEL}:predict',
                               raw=b'{"instances": ["' + b'x' * MAX_MESSAGE_BYTES + b'"]}')
    assert status == 413 and 'exceeds the limit' in body['error']
    for raw_body in (b'{not json', b'[1, 2]', b'\xff\xfe'):
        status, body = server.rest('POST', f'/v1/models/{MODEL}:predict', raw=raw_body)
        assert status == 400 and body['error']

    response = stubs[0].Predict(predict_request(serialized[:2]))
    assert tf.make_ndarray(response.outputs['probabilities']).shape == (2, 1)


# --- REST ----------------------------------------------------------------------------------

def _b64(records):
    return [{'b64': base64.b64encode(r).decode()} for r in records]


def test_rest_predict_row_and_columnar_formats(server, serialized, expected):
    status, body = server.rest('POST', f'/v1/models/{MODEL}:predict',
                               {'instances': _b64(serialized)})
    assert status == 200
    np.testing.assert_allclose(body['predictions'], expected, atol=1e-6)

    status, body = server.rest('POST', f'/v1/models/{MODEL}/versions/{VERSION}:predict',
                               {'signature_name': 'serving_default',
                                'inputs': {'examples': _b64(serialized[:4])}})
    assert status == 200
    np.testing.assert_allclose(body['outputs'], expected[:4], atol=1e-6)


def test_rest_classify_and_regress_take_json_features(server, raw_instances, expected):
    features = [{k: (v[0].decode() if isinstance(v[0], bytes) else v[0])
                 for k, v in row.items() if v and k != 'tips'} for row in raw_instances[:3]]
    status, body = server.rest('POST', f'/v1/models/{MODEL}:classify',
                               {'signature_name': 'classification', 'examples': features})
    assert status == 200, body
    assert [[label for label, _ in row] for row in body['results']] == [['0', '1']] * 3
    np.testing.assert_allclose([row[1][1] for row in body['results']], expected[:3, 0], atol=1e-5)

    context = {'payment_type': features[0]['payment_type']}
    status, body = server.rest('POST', f'/v1/models/{MODEL}:regress', {
        'signature_name': 'regression', 'context': context,
        'examples': [{k: v for k, v in features[0].items() if k != 'payment_type'}]})
    assert status == 200, body
    np.testing.assert_allclose(body['results'], expected[:1, 0], atol=1e-5)


def test_rest_status_and_metadata(server):
    status, body = server.rest('GET', f'/v1/models/{MODEL}')
    assert status == 200
    assert body == {'model_version_status': [{
        'version': str(VERSION), 'state': 'AVAILABLE',
        'status': {'error_code': 'OK', 'error_message': ''}}]}
    status, body = server.rest('GET', f'/v1/models/{MODEL}/versions/{VERSION}/metadata')
    assert status == 200
    assert body['model_spec']['version'] == str(VERSION)
    signature = body['metadata']['signature_def']['signature_def']['serving_default']
    assert signature['inputs']['examples']['dtype'] == 'DT_STRING'


@pytest.mark.parametrize('method, path, body, status, message', [
    ('POST', '/v1/models/foo:predict', {'instances': ['x']}, 404,
     'Servable not found for request: Latest(foo)'),
    ('GET', f'/v1/models/{MODEL}/versions/99', None, 404,
     f'Could not find version 99 of model {MODEL}'),
    ('POST', f'/v1/models/{MODEL}/labels/stable:predict', {'instances': ['x']}, 400,
     'Unrecognized servable version label: stable'),
    ('POST', f'/v1/models/{MODEL}:predict', {'signature_name': 'nope', 'instances': ['x']}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ('POST', f'/v1/models/{MODEL}:predict', {'instances': ['x'], 'inputs': ['x']}, 400,
     "Not both 'inputs' and 'instances' can be specified"),
    ('POST', f'/v1/models/{MODEL}:predict', {}, 400, "Missing 'inputs' or 'instances' key"),
    ('POST', f'/v1/models/{MODEL}:predict', {'signature_name': 5, 'instances': ['x']}, 400,
     "'signature_name' key must be a string value."),
    ('POST', f'/v1/models/{MODEL}:explain', {}, 400,
     f'Malformed request: POST /v1/models/{MODEL}:explain'),
])
def test_rest_errors(server, method, path, body, status, message):
    assert server.rest(method, path, body) == (status, {'error': message})


def test_rest_bad_example_bytes(server):
    status, body = server.rest('POST', f'/v1/models/{MODEL}:predict',
                               {'instances': [{'b64': '!!!'}]})
    assert status == 400 and 'base64' in body['error']
    status, body = server.rest('POST', f'/v1/models/{MODEL}:predict', {'instances': ['garbage']})
    assert status == 400 and 'Could not parse example input' in body['error']


def _count(text, model, status):
    prefix = f':tensorflow:serving:request_count{{model_name="{model}",status="{status}"}} '
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


def test_prometheus_metrics(server, stubs, serialized):
    stubs[0].Predict(predict_request(serialized[:1]))
    status, text = server.rest('GET', METRICS_PATH)
    assert status == 200
    assert _count(text, MODEL, 'OK') >= 1
    # TF Serving's labels: latency of successful inference calls only, runtime TF1 (Session)
    assert ':tensorflow:serving:request_latency_bucket{API="Predict",entrypoint="GRPC"' in text
    assert ':tensorflow:serving:runtime_latency_count{API="Predict",model_name=' \
           f'"{MODEL}",runtime="TF1"}}' in text
    assert 'API="GetModelStatus"' not in text
    assert 'status="NOT_FOUND"' in text
    assert ':tensorflow:serving:model_warmup_latency_count' in text


def test_failed_rest_calls_count_under_their_model(server):
    before = _count(server.rest('GET', METRICS_PATH)[1], MODEL, 'INVALID_ARGUMENT')
    status, _ = server.rest('POST', f'/v1/models/{MODEL}:predict', {'instances': ['garbage']})
    after = _count(server.rest('GET', METRICS_PATH)[1], MODEL, 'INVALID_ARGUMENT')
    assert status == 400 and after == before + 1


def test_multi_inference_calls_count_under_their_model(server, stubs, serialized):
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add(method_name='tensorflow/serving/regress')
    task.model_spec.name = MODEL
    task.model_spec.signature_name = 'regression'
    _examples_input(request.input, serialized[:2])
    before = server.rest('GET', METRICS_PATH)[1]
    stubs[0].MultiInference(request)
    after = server.rest('GET', METRICS_PATH)[1]
    assert _count(after, MODEL, 'OK') == _count(before, MODEL, 'OK') + 1
    assert _count(after, '', 'OK') == _count(before, '', 'OK')
