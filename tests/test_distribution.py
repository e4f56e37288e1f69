"""run_fn on a real 2-replica MirroredStrategy: the CPU split into two logical
devices (in a subprocess: devices are fixed when TensorFlow starts)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import distribution
from serving.local_server import REPO
from tests.support import to_example

_RUN_FN_ON_TWO_CPUS = '''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.tfxio import tf_example_record
from models import distribution, trainer

def factory(files, options, schema):
    return tf_example_record.TFExampleRecord(
        file_pattern=files, schema=schema).TensorFlowDataset(options)

transform_dir, data_dir, export_dir = sys.argv[1:4]
strategy = distribution.strategy()
trainer.run_fn(FnArgs(
    train_files=[data_dir + '/train*'], eval_files=[data_dir + '/eval*'], train_steps=20,
    transform_graph_path=transform_dir, serving_model_dir=export_dir,
    model_run_dir=export_dir + '_logs', custom_config={'hparams': {'batch_size': 32}},
    data_accessor=DataAccessor(tf_dataset_factory=factory, record_batch_factory=None,
                               data_view_decode_fn=None)))
print(json.dumps({'strategy': type(strategy).__name__,
                  'replicas': strategy.num_replicas_in_sync}))
'''


def _feature(value):
    if isinstance(value, (int, np.integer)):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


@pytest.fixture(scope='module')
def transformed_files(tft_result, tmp_path_factory):
    """Transform's output as the Trainer reads it: gzipped TFRecords of tf.Examples."""
    _, transformed = tft_result
    directory = tmp_path_factory.mktemp('transformed')
    options = tf.io.TFRecordOptions(compression_type='GZIP')
    for split, rows in (('train', transformed[:900]), ('eval', transformed[900:])):
        with tf.io.TFRecordWriter(str(directory / f'{split}.gz'), options) as writer:
            for row in rows:
                features = {k: _feature(v) for k, v in row.items()}
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=features)).SerializeToString())
    return str(directory)


@pytest.mark.e2e
def test_run_fn_trains_and_exports_on_two_replicas(tft_result, transformed_files, raw_instances,
                                                   tmp_path):
    export_dir = str(tmp_path / 'model')
    result = subprocess.run(
        [sys.executable, '-c', _RUN_FN_ON_TWO_CPUS, tft_result[0], transformed_files, export_dir],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={k: v for k, v in os.environ.items() if k != 'TF_CONFIG'})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {'strategy': 'MirroredStrategy', 'replicas': 2}

    serve = tf.saved_model.load(export_dir).signatures['serving_default']
    probabilities = serve(examples=tf.constant([to_example(r) for r in raw_instances[:10]]))
    values = probabilities['probabilities'].numpy()
    assert values.shape == (10, 1) and np.all((values > 0) & (values < 1))


def test_the_plain_cpu_path_keeps_the_default_strategy(monkeypatch):
    monkeypatch.delenv('TF_CONFIG', raising=False)
    assert distribution.strategy() is tf.distribute.get_strategy()
    assert distribution.use_mixed_precision() is False   # no GPU here


@pytest.mark.parametrize('tf_config, chief', [
    ({}, True),
    ({'cluster': {'worker': ['a:1', 'b:1']}, 'task': {'type': 'worker', 'index': 0}}, True),
    ({'cluster': {'worker': ['a:1', 'b:1']}, 'task': {'type': 'worker', 'index': 1}}, False),
    ({'cluster': {'chief': ['c:1'], 'worker': ['a:1']}, 'task': {'type': 'worker', 'index': 0}},
     False),
    ({'cluster': {'chief': ['c:1'], 'worker': ['a:1']}, 'task': {'type': 'chief', 'index': 0}},
     True),
])
def test_only_the_chief_keeps_its_export(monkeypatch, tf_config, chief):
    monkeypatch.setenv('TF_CONFIG', json.dumps(tf_config))
    assert distribution.is_chief() is chief
