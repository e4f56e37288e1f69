"""Request logging: sampled PredictionLogs in rotated TFRecord files, from a real server."""

import glob
import random
import shutil
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from serving.local_server import ModelServer
from serving.request_log import RequestLogger
from tests.support import to_example


def _read(prefix):
    logs = []
    for path in sorted(glob.glob(prefix + '-*.tfrecord')):
        logs += [prediction_log_pb2.PredictionLog.FromString(r.numpy())
                 for r in tf.data.TFRecordDataset(path)]
    return logs


def _request_response(version=3):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = 'chicago_taxi'
    request.inputs['examples'].CopyFrom(tf.make_tensor_proto([b'x'], dtype=tf.string))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = 'chicago_taxi'
    response.model_spec.version.value = version
    return request, response


def test_files_rotate_by_size_and_age(tmp_path):
    request, response = _request_response()
    by_size = RequestLogger(str(tmp_path / 'size' / 'taxi'), 1.0, max_file_bytes=200,
                            max_file_seconds=3600)
    for _ in range(10):
        by_size.log('predict', request, response)
    by_size.close()
    assert len(glob.glob(str(tmp_path / 'size' / 'taxi-*.tfrecord'))) > 1
    logs = _read(str(tmp_path / 'size' / 'taxi'))
    assert len(logs) == 10
    assert logs[0].log_metadata.model_spec.version.value == 3
    assert logs[0].predict_log.request == request

    by_age = RequestLogger(str(tmp_path / 'age' / 'taxi'), 1.0, max_file_bytes=1 << 30,
                           max_file_seconds=0.5)
    by_age.log('predict', request, response)
    time.sleep(1.6)
    by_age.log('predict', request, response)
    by_age.close()
    assert len(glob.glob(str(tmp_path / 'age' / 'taxi-*.tfrecord'))) == 2


def test_sampling_rate_is_honoured(tmp_path):
    random.seed(7)
    request, response = _request_response()
    logger = RequestLogger(str(tmp_path / 'taxi'), 0.25, 1 << 30, 3600)
    for _ in range(2000):
        logger.log('predict', request, response)
    logger.close()
    assert 400 < len(_read(str(tmp_path / 'taxi'))) < 600


@pytest.mark.e2e
def test_server_logs_grpc_and_rest_requests_with_the_version(exported_model, raw_instances,
                                                             tmp_path):
    shutil.copytree(exported_model[0], tmp_path / 'models' / '4')
    prefix = tmp_path / 'requests' / 'chicago_taxi'
    (tmp_path / 'models.config').write_text(f'''model_config_list {{ config {{
      name: "chicago_taxi" base_path: "{tmp_path / 'models'}" model_platform: "tensorflow"
      logging_config {{
        log_collector_config {{ type: "file" filename_prefix: "{prefix}" }}
        sampling_config {{ sampling_rate: 1.0 }}
      }}
    }} }}''')
    rows = [to_example(r) for r in raw_instances[:3]]
    with ModelServer(f'--model_config_file={tmp_path / "models.config"}') as server:
        with server.channel() as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = 'chicago_taxi'
            request.inputs['examples'].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
            stub.Predict(request)
        import base64
        status, _ = server.rest('POST', '/v1/models/chicago_taxi:predict',
                                {'instances': [{'b64': base64.b64encode(rows[0]).decode()}]})
        assert status == 200
        with grpc.insecure_channel(server.target) as channel:   # a failed request is not logged
            bad = predict_pb2.PredictRequest()
            bad.model_spec.name = 'chicago_taxi'
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(bad)
            except grpc.RpcError:
                pass
    logs = _read(str(prefix))   # the server flushes its logs on shutdown
    assert len(logs) == 2
    assert {log.log_metadata.model_spec.version.value for log in logs} == {4}
    assert list(logs[0].predict_log.request.inputs['examples'].string_val) == rows
    assert logs[0].predict_log.response.outputs['probabilities'].float_val
