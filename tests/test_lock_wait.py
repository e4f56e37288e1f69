"""Airflow's tasks wait for the run lock for a while, not for ever: after the wait
they fail with one line naming the holder (Airflow tries them again later)."""

import os

import pytest

from common.exit_status import ProblemFound
from runner import home_lock, store_lock
from tests.support import new_database


def test_a_wait_for_the_home_lock_ends_naming_its_holder(tmp_path):
    home = str(tmp_path)
    with home_lock.hold(home, 'local'):
        with pytest.raises(ProblemFound) as waited:
            with home_lock.hold(home, 'airflow Trainer', wait=True, wait_seconds=1):
                pass
    [line] = str(waited.value).splitlines()
    assert line.startswith(f'waited 1 s for the lock: home {home} is in use by pid '
                           f'{os.getpid()} (runner local, started ')
    with home_lock.hold(home, 'airflow Trainer', wait=True, wait_seconds=1):
        pass                                                    # free again


@pytest.mark.e2e
def test_a_wait_for_a_shared_stores_lock_ends_naming_its_holder(postgres_server, tmp_path):
    store = new_database(postgres_server, 'lock')
    with store_lock.hold(str(tmp_path / 'a'), store, 'local'):
        with pytest.raises(ProblemFound) as waited:
            with store_lock.hold(str(tmp_path / 'b'), store, 'airflow Trainer', wait=True,
                                 wait_seconds=1):
                pass
    [line] = str(waited.value).splitlines()
    assert line.startswith(f'waited 1 s for the lock of ML Metadata store {store}: a run '
                           f'is under way there (runner local by ')
    assert f'pid {os.getpid()}' in line
