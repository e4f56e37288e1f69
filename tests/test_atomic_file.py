"""Files written whole or not at all, with their mode from the start."""

import os
import stat

from common.atomic_file import write_atomically


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside(tmp_path):
    path = str(tmp_path / 'airflow.cfg')
    write_atomically(path, 'old')
    write_atomically(path, 'secret = 1\n', 0o600)
    with open(path) as f:
        assert f.read() == 'secret = 1\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write_atomically(path, b'\x00bytes')
    with open(path, 'rb') as f:
        assert f.read() == b'\x00bytes'
    assert os.listdir(tmp_path) == ['airflow.cfg']
