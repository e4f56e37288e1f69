"""What this project installs on this machine outside .venv (the Flink cluster's parts,
Airflow's virtualenv): under one cache directory, built by steps whose output goes
to a log."""

import os
import shutil
import subprocess
from typing import List, Mapping, Optional

from common.exit_status import ProblemFound, UsageError
from pipeline.config import REPO_ROOT


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
