"""The pipeline at 1x, 10x and 100x (and 1000x on request) the taxi data, as shipped.

    .venv/bin/python -m bench.scale [--factors 1 10 100 [1000]] [--workdir DIR]
                                    [--direct-running-mode auto|in_memory|...]

Data beyond 1x comes from operations.data_scaling (resampled, jittered; see
bench/data.py). `runner local` picks Beam's direct-runner mode by the size of the
input (auto: in process up to 64 MB, so 1x and 10x; a worker process per core
beyond, so 100x and 1000x); --direct-running-mode forces one for all factors.
1000x writes 15M rows (1.7 GB of CSV, about 1 minute) and takes tens of
minutes: it is not among the default factors.
Printed after each factor: rows, wall seconds, peak RSS of the whole process
tree, and per component its seconds and peak RSS while it ran (of the tree, of
the runner process, of its child processes, i.e. Beam workers, and how many
there were at most). Then a table of all factors: the same totals, seconds and
peak tree RSS per component, and how time grows from one factor to the next.
Targets (issue 29): 100x within 120 s and 3 GB; 1000x within 1200 s and 4 GB,
100x -> 1000x time at most x8, and peak RSS per component that stops growing.
Training steps stay fixed, so the Trainer's time measures reading, not fitting.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import csv
import glob
import os
import sys
import tempfile
from typing import Dict, List

from bench.data import csv_files, data_for
from bench.measure import (
    SAMPLE_EVERY,
    component_peaks,
    component_spans,
    fresh,
    run_measured,
)
from pipeline.config import REPO_ROOT as REPO

GB = float(1 << 30)
NAME = 34  # the name column: TFX's resolver nodes have long ids


def rows(directory: str) -> int:
    """CSV records (not lines: a quoted field may hold line breaks) under directory."""
    total = 0
    for path in csv_files(directory):
        with open(path, newline='') as f:
            total += sum(1 for _ in csv.reader(f)) - 1
    return total


def run_factor(factor: int, workdir: str, running_mode: str) -> Dict:
    """One fresh `runner local` run on the factor's data, measured."""
    data = data_for(factor, workdir)
    home = fresh(os.path.join(workdir, f'home_{factor}x'))
    run = run_measured(
        [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root', data,
         '--direct-running-mode', running_mode],
        dict(os.environ), os.path.join(workdir, f'run_{factor}x.log'), REPO)
    spans = component_spans(sorted(glob.glob(os.path.join(home, 'logs', '*.log')))[-1])
    return {'rows': rows(data), 'seconds': run.seconds, 'rss': run.peak_rss,
            'components': {span.name: span.seconds for span in spans},
            'peaks': component_peaks(spans, run.samples)}


def print_factor(factor: int, result: Dict) -> None:
    """Totals and per-component figures of one factor, as soon as its run ends."""
    print(f'{factor}x: {result["rows"]} rows, {result["seconds"]:.0f} s, '
          f'peak RSS {result["rss"] / GB:.2f} GB', flush=True)
    print(f'  {"component":<{NAME - 2}}{"seconds":>9}{"tree GB":>9}{"runner GB":>11}'
          f'{"workers GB":>12}{"workers":>9}')
    for name, seconds in result['components'].items():
        peak = result['peaks'].get(name)
        cells = (f'{peak.tree / GB:>9.2f}{peak.runner / GB:>11.2f}{peak.workers / GB:>12.2f}'
                 f'{peak.processes:>9}' if peak else f'{"-":>9}{"-":>11}{"-":>12}{"-":>9}')
        print(f'  {name:<{NAME - 2}}{seconds:>9.1f}{cells}', flush=True)
    if len(result['peaks']) < len(result['components']):
        print(f'  -: ran between two RSS samples (taken every {SAMPLE_EVERY} s)')


def print_summary(results: Dict[int, Dict]) -> None:
    """All factors side by side, and how time grows from one to the next."""
    factors: List[int] = list(results)
    names = results[factors[-1]]['components']
    print(f'\n{"":<{NAME}}' + ''.join(f'{f"{f}x":>10}' for f in factors))
    print(f'{"rows":<{NAME}}' + ''.join(f'{results[f]["rows"]:>10}' for f in factors))
    print(f'{"wall seconds":<{NAME}}' + ''.join(f'{results[f]["seconds"]:>10.0f}' for f in factors))
    print(f'{"peak RSS, GB (process tree)":<{NAME}}'
          + ''.join(f'{results[f]["rss"] / GB:>10.2f}' for f in factors))
    print('seconds per component:')
    for name in names:
        print(f'  {name:<{NAME - 2}}' + ''.join(
            f'{results[f]["components"].get(name, 0):>10.1f}' for f in factors))
    print('peak RSS per component, GB (process tree):')
    for name in names:
        peaks = [results[f]['peaks'].get(name) for f in factors]
        print(f'  {name:<{NAME - 2}}' + ''.join(
            f'{peak.tree / GB:>10.2f}' if peak else f'{"-":>10}' for peak in peaks))
    for small, big in zip(factors, factors[1:], strict=False):
        time_growth = results[big]['seconds'] / results[small]['seconds']
        row_growth = results[big]['rows'] / results[small]['rows']
        print(f'{small}x -> {big}x: rows x{row_growth:.0f}, time x{time_growth:.1f}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--factors', type=int, nargs='+', default=[1, 10, 100])
    parser.add_argument('--workdir', help='keeps data, homes and logs (default: a temp dir)')
    parser.add_argument('--direct-running-mode', default='auto',
                        help="passed to `runner local` (default auto, as shipped)")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_scale_')
    os.makedirs(workdir, exist_ok=True)
    print(f'work dir {workdir}', flush=True)
    results = {}
    for factor in args.factors:
        results[factor] = run_factor(factor, workdir, args.direct_running_mode)
        print_factor(factor, results[factor])
    print_summary(results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
