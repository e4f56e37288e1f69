"""The virtualenvs built outside .venv (Flink's SDK workers, Airflow) outlive the checkout
that built them: CI runs from a fresh clone each time, with the cache of an earlier one."""

import os
import shutil
import sys

from operations import local_installs


def _built(tmp_path):
    """A virtualenv built by a checkout's .venv, as `make airflow-install` there would."""
    lock = tmp_path / 'lock.txt'
    lock.write_text('')             # no packages: what matters here is the interpreter
    venv = str(tmp_path / 'cache' / 'venv')
    local_installs.build_venv(venv, str(lock), 'the test virtualenv', str(tmp_path / 'log'))
    return venv, str(lock)


def test_a_virtualenv_does_not_lean_on_the_checkout_that_built_it(tmp_path):
    venv, lock = _built(tmp_path)
    python = os.path.realpath(local_installs.venv_python(venv))
    assert not python.startswith(os.path.realpath(sys.prefix) + os.sep), python
    assert local_installs.venv_ready(venv, lock)


def test_a_virtualenv_whose_interpreter_went_is_not_taken_as_built(tmp_path):
    venv, lock = _built(tmp_path)
    gone = tmp_path / 'gone-checkout' / 'bin'
    gone.mkdir(parents=True)
    os.symlink(os.path.realpath(sys.executable), gone / 'python')
    os.remove(local_installs.venv_python(venv))
    os.symlink(gone / 'python', local_installs.venv_python(venv))
    assert local_installs.venv_ready(venv, lock)
    shutil.rmtree(tmp_path / 'gone-checkout')       # the checkout that built it is removed
    assert not local_installs.venv_ready(venv, lock)


def test_a_changed_lock_builds_the_virtualenv_again(tmp_path):
    venv, lock = _built(tmp_path)
    with open(lock, 'a') as out:
        out.write('# a pin changed\n')
    assert not local_installs.venv_ready(venv, lock)
