"""Versions come and go under a running server: swaps under load, incomplete and
broken versions, config reloads with policies and labels. In file order."""

import os
import shutil
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.local_server import ModelServer
from tests.support import predict, reload_config, to_example, wait_for

pytestmark = pytest.mark.e2e

MODEL = 'chicago_taxi'
States = get_model_status_pb2.ModelVersionStatus


def _push(source: str, target: str) -> None:
    """Copies a SavedModel the way TFX's Pusher does: saved_model.pb last."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns('saved_model.pb'))
    shutil.copy(os.path.join(source, 'saved_model.pb'), target)


@pytest.fixture(scope='module')
def base(exported_model, tmp_path_factory):
    path = tmp_path_factory.mktemp('versions') / MODEL
    _push(exported_model[0], str(path / '1'))
    return path


@pytest.fixture(scope='module')
def server(base, tmp_path_factory):
    config = tmp_path_factory.mktemp('config') / 'models.config'
    config.write_text(f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" '
                      'model_platform: "tensorflow" } }\n')
    with ModelServer(f'--model_config_file={config}', '--file_system_poll_wait_seconds=1',
                     '--allow_model_config_reload',
                     f'--model_config_roots={tmp_path_factory.getbasetemp()}',
                     rest=False) as running:
        yield running


@pytest.fixture(scope='module')
def request_rows(raw_instances):
    return [to_example(r) for r in raw_instances[:8]]


def _states(stub, name=MODEL):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    return {s.version: (States.State.Name(s.state), s.status.error_message)
            for s in stub.GetModelStatus(request).model_version_status}


def test_version_swap_under_load_fails_no_call(stubs, base, exported_model, request_rows):
    seen, errors, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                seen.append(predict(stubs[0], request_rows).model_spec.version.value)
            except grpc.RpcError as error:
                errors.append(f'{error.code()}: {error.details()}')

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: len(seen) > 20)
        _push(exported_model[0], str(base / '2'))
        assert wait_for(lambda: seen and seen[-1] == 2), 'version 2 never took traffic'
        count = len(seen)
        assert wait_for(lambda: len(seen) > count + 50)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert set(seen) == {1, 2} and seen[-20:] == [2] * 20
    assert _states(stubs[1]) == {2: ('AVAILABLE', ''), 1: ('END', '')}


def test_version_without_saved_model_pb_is_not_picked_up(stubs, base, exported_model, request_rows):
    shutil.copytree(exported_model[0], base / '5', ignore=shutil.ignore_patterns('saved_model.pb'))
    time.sleep(3)   # three polls
    assert 5 not in _states(stubs[1])
    assert predict(stubs[0], request_rows).model_spec.version.value == 2


def test_broken_version_is_reported_and_never_serves(stubs, base, exported_model, request_rows):
    broken = base / '9'
    shutil.copytree(exported_model[0], broken, ignore=shutil.ignore_patterns('saved_model.pb'))
    (broken / 'saved_model.pb').write_bytes(b'this is not a SavedModel')
    assert wait_for(lambda: _states(stubs[1]).get(9, ('',))[0] == 'END')
    state, message = _states(stubs[1])[9]
    assert 'Loading servable: {name: chicago_taxi version: 9} failed' in message
    assert _states(stubs[1])[2] == ('AVAILABLE', '')
    assert predict(stubs[0], request_rows).model_spec.version.value == 2


def test_reload_config_with_versions_labels_and_a_new_model(stubs, base, exported_model,
                                                              request_rows, tmp_path):
    _push(exported_model[0], str(tmp_path / 'copy' / '3'))
    config = model_server_config_pb2.ModelServerConfig()
    taxi = config.model_config_list.config.add(name=MODEL, base_path=str(base),
                                               model_platform='tensorflow')
    taxi.model_version_policy.specific.versions.extend([1, 2])
    taxi.version_labels['stable'] = 1
    taxi.version_labels['canary'] = 2
    config.model_config_list.config.add(name='taxi_copy', base_path=str(tmp_path / 'copy'),
                                        model_platform='tensorflow')

    assert reload_config(stubs[1], config).status.error_code == 0
    assert _states(stubs[1])[1] == ('AVAILABLE', '') and _states(stubs[1])[2] == ('AVAILABLE', '')
    assert predict(stubs[0], request_rows, version_label='stable').model_spec.version.value == 1
    assert predict(stubs[0], request_rows, version_label='canary').model_spec.version.value == 2
    assert predict(stubs[0], request_rows, name='taxi_copy').model_spec.version.value == 3

    taxi.version_labels['canary'] = 42
    with pytest.raises(grpc.RpcError) as raised:
        reload_config(stubs[1], config)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'version 42 of model chicago_taxi, which is not currently available' in \
        raised.value.details()
