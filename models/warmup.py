"""Warmup requests in the exported SavedModel, so that a model server answers its
first real request at full speed: TF Serving replays
assets.extra/tf_serving_warmup_requests (PredictionLogs) before a version
takes traffic, and so does serving/."""

import os

import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from common import examples
from common.tf_serving import WARMUP_FILE

# Representative requests: a card trip with every field, a cash trip with gaps,
# and one with no fields at all (every raw feature is optional).
WARMUP_TRIPS = [
    {'trip_start_hour': 19, 'trip_start_day': 6, 'trip_start_month': 5,
     'trip_start_timestamp': 1400269500, 'fare': 12.45, 'trip_miles': 2.9,
     'trip_seconds': 780, 'payment_type': 'Credit Card', 'company': 'Taxi Affiliation Services',
     'pickup_latitude': 41.892, 'pickup_longitude': -87.633, 'pickup_community_area': 8,
     'dropoff_latitude': 41.922, 'dropoff_longitude': -87.649, 'dropoff_community_area': 7,
     'dropoff_census_tract': 17031070300},
    {'trip_start_hour': 2, 'trip_start_day': 1, 'trip_start_month': 11,
     'trip_start_timestamp': 1385860000, 'fare': 5.25, 'trip_miles': 0.8, 'trip_seconds': 240,
     'payment_type': 'Cash', 'pickup_latitude': 41.880, 'pickup_longitude': -87.632,
     'pickup_community_area': 32},
    {},
]


def _logs(serialized):
    predict = predict_pb2.PredictRequest()
    predict.model_spec.signature_name = 'serving_default'
    predict.inputs['examples'].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
    single = predict_pb2.PredictRequest()
    single.CopyFrom(predict)
    single.inputs['examples'].CopyFrom(tf.make_tensor_proto(serialized[:1], dtype=tf.string))
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.signature_name = 'classification'
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.signature_name = 'regression'
    for request in (classify, regress):
        for trip in WARMUP_TRIPS:
            request.input.example_list.examples.add().CopyFrom(examples.example(trip))
    return [prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=single)),
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict)),
            prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=classify)),
            prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=regress))]


def write_warmup_requests(export_dir: str) -> str:
    """Writes the PredictionLogs next to the SavedModel; returns the file's path."""
    path = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    serialized = [examples.example(trip).SerializeToString(deterministic=True)
                  for trip in WARMUP_TRIPS]
    with tf.io.TFRecordWriter(path) as writer:
        for log in _logs(serialized):
            writer.write(log.SerializeToString(deterministic=True))
    return path
