"""What this project installs on this machine outside .venv (the Flink cluster's parts,
Airflow's virtualenv): under one cache directory, built by steps whose output goes
to a log."""

import os
import shutil
import subprocess
import sys
from typing import List, Mapping, Optional

from common.exit_status import ProblemFound, UsageError
from pipeline.config import REPO_ROOT
from pipeline.fingerprint import file_sha256

MARKER = '.complete'


def cache_dir(part: str) -> str:
    """Where a part goes: TAXI_CACHE_DIR, else XDG's cache, then taxi-pipeline/PART."""
    base = os.environ.get('TAXI_CACHE_DIR') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'taxi-pipeline')
    return os.path.join(base, part)


def uv() -> str:
    """The uv that `make install` uses (virtualenvs from a lock file in seconds)."""
    found = shutil.which('uv') or os.path.join(REPO_ROOT, '.tools', 'bin', 'uv')
    if not os.path.exists(found):
        raise UsageError('uv not found: run `make install` first')
    return found


def run_step(argv: List[str], what: str, log: str,
             env: Optional[Mapping[str, str]] = None) -> None:
    """Runs a build step with its output in `log`; ProblemFound naming it if it fails."""
    with open(log, 'ab') as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, check=False, env=env)
    if result.returncode != 0:
        raise ProblemFound(f'{what} failed (exit {result.returncode}; its output is in {log})')


def base_python() -> str:
    """The interpreter behind this process's .venv: a virtualenv built from .venv's own
    python would link into this checkout, and break when the checkout moves or goes."""
    return os.path.realpath(sys.executable)


def venv_python(venv: str) -> str:
    return os.path.join(venv, 'bin', 'python')


def venv_ready(venv: str, lock: str) -> bool:
    """Whether the virtualenv at `venv` is whole, made from `lock` as it is now, and its
    interpreter is still there."""
    try:
        with open(os.path.join(venv, MARKER)) as marker:
            made_from = marker.read()
    except OSError:
        return False
    return made_from == file_sha256(lock) and os.path.exists(venv_python(venv))


def build_venv(venv: str, lock: str, what: str, log: str) -> None:
    """`lock`'s packages in a virtualenv at `venv`, bytecode compiled as .venv is. A
    virtualenv holds its own path, so it is built in place; its marker, written last,
    tells a finished one and the lock it was made from."""
    tool = uv()
    shutil.rmtree(venv, ignore_errors=True)
    run_step([tool, 'venv', '--quiet', '--python', base_python(), venv], what, log)
    run_step([tool, 'pip', 'install', '--quiet', '--compile-bytecode', '--python',
              venv_python(venv), '-r', lock], f"{what}'s packages", log)
    with open(os.path.join(venv, MARKER), 'w') as marker:
        marker.write(file_sha256(lock))
