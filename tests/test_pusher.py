"""pipeline.pusher's executor on real TFX artifacts: the newest version is not pushed twice."""

import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from pipeline.mlmd import ALREADY_PUSHED
from pipeline.pusher import Executor, same_files


def _model_files(directory, weights: bytes):
    os.makedirs(os.path.join(directory, 'variables'), exist_ok=True)
    with open(os.path.join(directory, 'saved_model.pb'), 'wb') as f:
        f.write(b'graph')
    with open(os.path.join(directory, 'variables', 'variables.data-00000-of-00001'), 'wb') as f:
        f.write(weights)


def _artifact(kind, uri, **properties):
    artifact = kind()
    artifact.uri = uri
    for key, value in properties.items():
        artifact.set_int_custom_property(key, value)
    return artifact


@pytest.fixture
def push(tmp_path):
    """push(weights, blessed=True) -> PushedModel: one Pusher execution on a model."""
    serving = str(tmp_path / 'serving_model')
    runs = []

    def run(weights: bytes, blessed: bool = True):
        run_dir = tmp_path / f'run{len(runs)}'
        model = _artifact(standard_artifacts.Model, str(run_dir / 'model'))
        _model_files(os.path.join(model.uri, 'Format-Serving'), weights)
        pushed = _artifact(standard_artifacts.PushedModel, str(run_dir / 'pushed'))
        destination = pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving))
        Executor().Do(
            {'model': [model],
             'model_blessing': [_artifact(standard_artifacts.ModelBlessing, str(run_dir / 'b'),
                                          blessed=int(blessed))]},
            {'pushed_model': [pushed]},
            {'push_destination': proto_utils.proto_to_json(destination)})
        runs.append(pushed)
        return pushed
    run.serving = serving
    return run


def _versions(serving):
    return sorted(os.listdir(serving)) if os.path.isdir(serving) else []


def _add_version(serving, version, weights):
    _model_files(os.path.join(serving, str(version)), weights)


def test_same_model_again_records_the_newest_version(push):
    first = push(b'weights')
    assert _versions(push.serving) == [first.get_string_custom_property('pushed_version')]

    again = push(b'weights')

    assert _versions(push.serving) == [first.get_string_custom_property('pushed_version')]
    assert again.get_int_custom_property('pushed') == 1
    assert again.get_int_custom_property(ALREADY_PUSHED) == 1
    assert again.get_string_custom_property('pushed_version') == \
        first.get_string_custom_property('pushed_version')
    assert os.path.exists(os.path.join(again.uri, 'saved_model.pb'))   # archived, as TFX does


def test_a_different_model_is_pushed_as_a_new_version(push):
    _add_version(push.serving, 100, b'old weights')
    pushed = push(b'new weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert _versions(push.serving) == ['100', pushed.get_string_custom_property('pushed_version')]


def test_an_older_version_with_the_same_files_is_a_rollback(push):
    _add_version(push.serving, 100, b'weights')
    _add_version(push.serving, 200, b'other weights')
    pushed = push(b'weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert len(_versions(push.serving)) == 3


def test_an_incomplete_newest_version_does_not_count(push):
    _add_version(push.serving, 100, b'weights')
    os.remove(os.path.join(push.serving, '100', 'saved_model.pb'))   # a copy cut short
    pushed = push(b'weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert len(_versions(push.serving)) == 2


def test_an_unblessed_model_is_not_pushed(push):
    _add_version(push.serving, 100, b'weights')
    pushed = push(b'weights', blessed=False)
    assert pushed.get_int_custom_property('pushed') == 0
    assert _versions(push.serving) == ['100']


def test_same_files_reads_past_the_first_chunk(tmp_path):
    left, right = str(tmp_path / 'left'), str(tmp_path / 'right')
    _model_files(left, b'0123456789abcdef')
    _model_files(right, b'0123456789abcdef')
    assert same_files(left, right, chunk_bytes=4)
    _model_files(right, b'0123456789abcdeX')      # differs in the last chunk only
    assert not same_files(left, right, chunk_bytes=4)
    _model_files(right, b'0123456789abcdef')
    (tmp_path / 'right' / 'extra.txt').write_text('')
    assert not same_files(left, right, chunk_bytes=4)

