"""The pipeline at 1x, 10x and 100x the taxi data, as shipped.

    .venv/bin/python -m bench.scale [--factors 1 10 100] [--workdir DIR]
                                    [--direct-running-mode auto|in_memory|...]

Data beyond 1x comes from `python -m runner scale-data` (resampled, jittered).
`runner local` picks Beam's direct-runner mode by the size of the input (auto:
in process up to 64 MB, so 1x and 10x; a worker process per core beyond, so
100x); --direct-running-mode forces one for all factors.
Printed per factor: rows, wall seconds, peak RSS of the whole process tree,
seconds per component; and how time grows from one factor to the next.
Targets: 100x within 240 s and 4 GB; 10x -> 100x time at most x5.
Training steps stay fixed, so the Trainer's time measures reading, not fitting.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import glob
import os
import sys
import tempfile

from bench.measure import component_seconds, run_measured
from operations.data_scaling import write_scaled
from pipeline.config import DEFAULT_DATA_ROOT
from pipeline.config import REPO_ROOT as REPO


def data_for(factor: int, workdir: str) -> str:
    if factor == 1:
        return DEFAULT_DATA_ROOT
    directory = os.path.join(workdir, f'data_{factor}x')
    if not glob.glob(os.path.join(directory, '*.csv')):
        write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), factor, directory)
    return directory


def rows(directory: str) -> int:
    return sum(sum(1 for _ in open(path)) - 1
               for path in glob.glob(os.path.join(directory, '*.csv')))


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
        data = data_for(factor, workdir)
        home = os.path.join(workdir, f'home_{factor}x')
        seconds, rss = run_measured(
            [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root', data,
             '--direct-running-mode', args.direct_running_mode],
            dict(os.environ), os.path.join(workdir, f'run_{factor}x.log'), REPO)
        log = sorted(glob.glob(os.path.join(home, 'logs', '*.log')))[-1]
        results[factor] = {'rows': rows(data), 'seconds': seconds, 'rss': rss,
                           'components': component_seconds(log)}
        print(f'{factor}x: {results[factor]["rows"]} rows, {seconds:.0f} s, '
              f'peak RSS {rss / (1 << 30):.2f} GB', flush=True)

    factors = list(results)
    print(f'\n{"":<32}' + ''.join(f'{f"{f}x":>10}' for f in factors))
    print(f'{"rows":<32}' + ''.join(f'{results[f]["rows"]:>10}' for f in factors))
    print(f'{"wall seconds":<32}' + ''.join(f'{results[f]["seconds"]:>10.0f}' for f in factors))
    print(f'{"peak RSS, GB (process tree)":<32}'
          + ''.join(f'{results[f]["rss"] / (1 << 30):>10.2f}' for f in factors))
    print('seconds per component:')
    for name in results[factors[-1]]['components']:
        print(f'  {name:<30}' + ''.join(
            f'{results[f]["components"].get(name, 0):>10.1f}' for f in factors))
    for small, big in zip(factors, factors[1:], strict=False):
        time_growth = results[big]['seconds'] / results[small]['seconds']
        row_growth = results[big]['rows'] / results[small]['rows']
        print(f'{small}x -> {big}x: rows x{row_growth:.0f}, time x{time_growth:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
