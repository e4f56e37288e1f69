"""pipeline.pusher's executor on real TFX artifacts: the newest version is not pushed twice."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from pipeline.mlmd import ALREADY_PUSHED
from pipeline.pusher import STAGING_PREFIX, Executor, same_files
from serving.local_server import REPO, ModelServer
from tests.support import read_rows, served_version, to_example, to_instance, versions


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


def _add_version(serving, version, weights):
    _model_files(os.path.join(serving, str(version)), weights)


def test_same_model_again_records_the_newest_version(push):
    first = push(b'weights')
    assert versions(push.serving) == [first.get_string_custom_property('pushed_version')]

    again = push(b'weights')

    assert versions(push.serving) == [first.get_string_custom_property('pushed_version')]
    assert again.get_int_custom_property('pushed') == 1
    assert again.get_int_custom_property(ALREADY_PUSHED) == 1
    assert again.get_string_custom_property('pushed_version') == \
        first.get_string_custom_property('pushed_version')
    assert os.path.exists(os.path.join(again.uri, 'saved_model.pb'))   # archived, as TFX does


def test_a_different_model_is_pushed_as_a_new_version(push):
    _add_version(push.serving, 100, b'old weights')
    pushed = push(b'new weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert versions(push.serving) == ['100', pushed.get_string_custom_property('pushed_version')]


def test_an_older_version_with_the_same_files_is_a_rollback(push):
    _add_version(push.serving, 100, b'weights')
    _add_version(push.serving, 200, b'other weights')
    pushed = push(b'weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert len(versions(push.serving)) == 3


def test_an_incomplete_newest_version_does_not_count(push):
    _add_version(push.serving, 100, b'weights')
    os.remove(os.path.join(push.serving, '100', 'saved_model.pb'))   # a copy cut short
    pushed = push(b'weights')
    assert pushed.get_int_custom_property(ALREADY_PUSHED) == 0
    assert len(versions(push.serving)) == 2


def test_an_unblessed_model_is_not_pushed(push):
    _add_version(push.serving, 100, b'weights')
    pushed = push(b'weights', blessed=False)
    assert pushed.get_int_custom_property('pushed') == 0
    assert versions(push.serving) == ['100']


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


def _numbered(base):
    return sorted(name for name in os.listdir(base) if name.isdigit())


@pytest.mark.e2e
def test_a_push_killed_mid_copy_leaves_nothing_a_server_would_load(exported_model, schema, push,
                                                                   tmp_path):
    source = tmp_path / 'model'
    shutil.copytree(exported_model[0], source)
    with open(source / 'assets.extra' / 'padding', 'wb') as f:   # a copy that takes a while
        f.write(os.urandom(1 << 20) * 200)
    examples = [to_example(to_instance(r, schema)) for r in read_rows(5)]
    base = tmp_path / 'serving_model'
    shutil.copytree(exported_model[0], base / '1')
    with ModelServer('--model_name=chicago_taxi', f'--model_base_path={base}',
                     '--file_system_poll_wait_seconds=1', rest=False) as server:
        pusher = subprocess.Popen(
            [sys.executable, '-c', 'import sys; from pipeline.pusher import push_version; '
             'push_version(sys.argv[1], sys.argv[2], 2)', str(source), str(base)], cwd=REPO)
        deadline = time.time() + 120
        while time.time() < deadline:
            staged = [n for n in os.listdir(base) if n.startswith(STAGING_PREFIX)]
            if staged and os.path.exists(base / staged[0] / 'assets.extra' / 'padding'):
                break
            time.sleep(0.01)
        os.kill(pusher.pid, signal.SIGKILL)
        pusher.wait()
        assert staged and _numbered(base) == ['1']
        time.sleep(2)                      # the server polls: it must find nothing new
        assert served_version(server.target, examples) == 1
    pushed = push(b'other weights')           # the next push clears the leftover
    assert sorted(os.listdir(base)) == ['1', pushed.get_string_custom_property('pushed_version')]




def test_versions_only_grow(push):
    future = 4_000_000_000                       # a version newer than any clock reading
    _add_version(push.serving, future, b'newest weights')
    pushed = push(b'older weights again')
    assert int(pushed.get_string_custom_property('pushed_version')) == future + 1


def test_only_leftovers_of_dead_pushes_are_removed(tmp_path):
    from pipeline.pusher import remove_leftovers
    base = tmp_path / 'serving_model'
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    for name in ('7', f'{STAGING_PREFIX}8-{dead.pid}', f'{STAGING_PREFIX}9-{os.getpid()}',
                 'notes'):
        (base / name).mkdir(parents=True)
    assert remove_leftovers(str(base)) == [f'{STAGING_PREFIX}8-{dead.pid}']
    assert sorted(os.listdir(base)) == [f'{STAGING_PREFIX}9-{os.getpid()}', '7', 'notes']


def test_a_failing_write_leaves_no_version_and_says_why(tmp_path):
    """A write refused by the OS midway (a file size limit, as a full disk refuses one)."""
    source = tmp_path / 'model'
    _model_files(str(source), b'w' * 200_000)
    base = tmp_path / 'serving_model'
    code = ('import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); '
            'resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)); '
            'from pipeline.pusher import push_version; push_version(sys.argv[1], sys.argv[2], 5)')
    result = subprocess.run([sys.executable, '-c', code, str(source), str(base)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == 'OSError: [Errno 27] File too large'
    assert os.listdir(base) == []                # the staging copy removed too


def test_no_version_is_made_visible_after_a_stop(tmp_path):
    """A stop asked for (Ctrl-C, SIGTERM) before the rename: no version, no staging copy."""
    from common import interruption
    from pipeline.pusher import push_version
    source = tmp_path / 'model'
    _model_files(str(source), b'weights')
    base = tmp_path / 'serving_model'
    interruption.request(signal.SIGINT)
    with pytest.raises(interruption.Interrupted):
        push_version(str(source), str(base), 7)
    assert os.listdir(base) == []
