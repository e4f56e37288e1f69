"""Peak RSS per TFX component of one `runner local` run: which component sets the peak.

    .venv/bin/python -m bench.component_rss --data-root DIR [--workdir DIR]
                                            [-- extra `runner local` arguments]

Samples the RSS of the runner's process tree (the runner itself, and Beam's
worker processes apart) every 0.2 s, and charges each sample to the component
the run's log says was running then ('Component X is running/finished' lines).
Printed per component: seconds, peak RSS of the tree, of the runner process and
of its children (Beam workers), in GB, and the most child processes seen.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from typing import Dict, List, Tuple

import psutil

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)
from bench.measure import component_seconds
from pipeline.config import REPO_ROOT

_EVENT = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?(?:Component|node) (\S+) is '
                    r'(running|finished)\.')
GB = float(1 << 30)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def sample_tree(process: subprocess.Popen,
                every: float = 0.2) -> List[Tuple[float, int, int, int]]:
    """(time, RSS of the process, RSS of its descendants, how many) until it ends."""
    root, samples = psutil.Process(process.pid), []
    while process.poll() is None:
        try:
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        samples.append((time.time(), _rss(root), sum(_rss(child) for child in children),
                        len(children)))
        time.sleep(every)
    return samples


def component_spans(log_path: str) -> List[Tuple[str, float, float]]:
    """(component, start, end) from the run's log, in the order they started."""
    started, spans = {}, []
    with open(log_path, errors='replace') as log:
        for line in log:
            match = _EVENT.match(line)
            if not match:
                continue
            at = datetime.strptime(match.group(1), '%Y-%m-%d %H:%M:%S,%f').timestamp()
            if match.group(3) == 'running':
                started[match.group(2)] = at
            elif match.group(2) in started:
                spans.append((match.group(2), started.pop(match.group(2)), at))
    return sorted(spans, key=lambda span: span[1])


def peaks(samples, spans) -> Dict[str, Tuple[int, int, int, int]]:
    """Per component: peak (tree, runner, children) RSS and most child processes among
    the samples taken while it ran."""
    result = {}
    for name, start, end in spans:
        inside = [(main + kids, main, kids, count) for at, main, kids, count in samples
                  if start <= at <= end]
        if inside:
            result[name] = tuple(max(values) for values in zip(*inside, strict=True))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--workdir', help='keeps the home and the output (default: a temp dir)')
    parser.add_argument('extra', nargs='*', help='more `runner local` arguments (after --)')
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_rss_')
    home = os.path.join(workdir, 'home')
    started = time.time()
    with open(os.path.join(workdir, 'runner.out'), 'a') as out:
        process = subprocess.Popen(
            [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root',
             args.data_root, *args.extra], stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    samples = []
    sampler = threading.Thread(target=lambda: samples.extend(sample_tree(process)), daemon=True)
    sampler.start()
    code = process.wait()
    sampler.join()
    seconds = time.time() - started
    log = sorted(glob.glob(os.path.join(home, 'logs', '*.log')))[-1]
    print(f'work dir {workdir}; runner exited {code} after {seconds:.0f} s; '
          f'peak RSS of the tree {max(m + k for _, m, k, _ in samples) / GB:.2f} GB')
    durations = component_seconds(log)
    print(f'{"component":<32}{"seconds":>9}{"tree GB":>9}{"runner":>9}{"workers":>9}'
          f'{"procs":>7}')
    for name, (tree, main_rss, kids, count) in peaks(samples, component_spans(log)).items():
        print(f'{name:<32}{durations.get(name, 0):>9.1f}{tree / GB:>9.2f}{main_rss / GB:>9.2f}'
              f'{kids / GB:>9.2f}{count:>7}')
    return code


if __name__ == '__main__':
    sys.exit(main())
