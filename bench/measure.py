"""Measuring a run: wall time, peak RSS of a process tree, seconds per TFX component."""

import re
import subprocess
import threading
import time
from datetime import datetime
from typing import Dict, List, Tuple

import psutil

# LocalDagRunner logs "Component X is running/finished", BeamDagRunner "node X ...".
_EVENT = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?(?:Component|node) (\S+) is '
                    r'(running|finished)\.')


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process] + process.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(command: List[str], env: Dict[str, str], log_path: str,
                 cwd: str = None) -> Tuple[float, int]:
    """Runs command to completion; returns (wall seconds, peak RSS of its process tree)."""
    started = time.time()
    with open(log_path, 'a') as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=cwd)
    watched, peak = psutil.Process(process.pid), [0]

    def sample():
        while process.poll() is None:
            try:
                peak[0] = max(peak[0], _tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.time() - started
    sampler.join()
    if code != 0:
        raise RuntimeError(f'{command[:3]} exited with {code}; see {log_path}')
    return seconds, peak[0]


def component_seconds(log_path: str) -> Dict[str, float]:
    """Seconds per component from 'Component/node X is running/finished' log lines."""
    started, seconds = {}, {}
    with open(log_path, errors='replace') as log:
        for line in log:
            match = _EVENT.match(line)
            if not match:
                continue
            at = datetime.strptime(match.group(1), '%Y-%m-%d %H:%M:%S,%f').timestamp()
            if match.group(3) == 'running':
                started[match.group(2)] = at
            elif match.group(2) in started:
                seconds[match.group(2)] = at - started.pop(match.group(2))
    return seconds
