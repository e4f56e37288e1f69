"""The canary: a candidate serves through our server on loopback before Pusher
may take it; broken candidates are caught and say why."""

import glob
import os
import shutil

import pytest

from pipeline.canary import check_candidate, eval_examples
from tests.support import to_example

pytestmark = pytest.mark.e2e


def _examples(raw_instances, count=60):
    return [to_example(r) for r in raw_instances[:count]]


def test_a_good_candidate_serves(exported_model, raw_instances):
    assert check_candidate(exported_model[0], _examples(raw_instances)) == ''


def test_a_candidate_without_weights_does_not_load(exported_model, raw_instances, tmp_path):
    broken = tmp_path / 'model'
    shutil.copytree(exported_model[0], broken)
    shutil.rmtree(broken / 'variables')
    reason = check_candidate(str(broken), _examples(raw_instances))
    assert reason.startswith('the model did not load: Loading servable')


def test_a_candidate_with_broken_warmup_requests_does_not_load(exported_model, raw_instances,
                                                                tmp_path):
    broken = tmp_path / 'model'
    shutil.copytree(exported_model[0], broken)
    (broken / 'assets.extra' / 'tf_serving_warmup_requests').write_bytes(b'\x05not a record')
    reason = check_candidate(str(broken), _examples(raw_instances))
    assert 'did not load' in reason and 'truncated' in reason


def test_a_candidate_that_cannot_answer_is_caught(exported_model, raw_instances):
    reason = check_candidate(exported_model[0], [b'garbage'] + _examples(raw_instances, 5))
    assert reason.startswith('Predict failed: INVALID_ARGUMENT')


def test_eval_examples_come_from_the_eval_split_without_the_label(pipeline_home):
    [examples_dir] = glob.glob(os.path.join(pipeline_home[0], 'pipelines', 'chicago-taxi',
                                            'CsvExampleGen', 'examples', '*'))[:1]
    sample = eval_examples(examples_dir, 25, ('tips',))
    assert len(sample) == 25
    import tensorflow as tf
    features = tf.train.Example.FromString(sample[0]).features.feature
    assert 'tips' not in features and 'fare' in features
