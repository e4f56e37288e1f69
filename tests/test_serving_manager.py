"""Version discovery on any file system TensorFlow knows (TF Serving takes gs://
base paths): here its in-memory ram:// file system stands in for a bucket."""

import os
import uuid

import tensorflow as tf
from tensorflow_serving.apis import model_pb2

from common.tf_serving import newest_version, version_dirs
from serving.manager import ModelManager, model_server_config


def _copy_tree(source: str, target: str) -> None:
    for root, _, files in os.walk(source):
        relative = os.path.relpath(root, source)
        directory = target if relative == '.' else f'{target}/{relative}'
        tf.io.gfile.makedirs(directory)
        for name in files:
            tf.io.gfile.copy(os.path.join(root, name), f'{directory}/{name}')


def test_versions_are_found_on_a_remote_file_system(exported_model):
    base = f'ram://{uuid.uuid4().hex}/chicago_taxi'
    _copy_tree(exported_model[0], f'{base}/3')
    tf.io.gfile.makedirs(f'{base}/5')                 # no saved_model.pb yet: not a version
    tf.io.gfile.makedirs(f'{base}/.push-7')           # not a number: not a version
    assert version_dirs(base) == {3: f'{base}/3'}
    assert newest_version(base) == 3


def test_the_server_loads_a_version_from_a_remote_file_system(exported_model):
    base = f'ram://{uuid.uuid4().hex}/chicago_taxi'
    _copy_tree(exported_model[0], f'{base}/2')
    manager = ModelManager(warmup=lambda servable: None)
    manager.reload(model_server_config('chicago_taxi', base))
    servable = manager.get(model_pb2.ModelSpec(name='chicago_taxi'))
    assert servable.version == 2 and 'serving_default' in servable.signature_defs
