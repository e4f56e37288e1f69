"""How fast `runner runs` answers on a home with many runs.

    .venv/bin/python -m bench.runs [--runs 50] [--workdir DIR] [--metadata URL]

Builds a home with N runs (one fresh run, then cached re-runs of it, which
record a run each in ML Metadata) unless the work dir already has one, then
times `python -m runner runs` and `runner runs --json` there (best of 3 each,
whole process: start-up, ML Metadata, output). Target: under 3 s at 50 runs.
With --metadata, an empty PostgreSQL store (`make store` prints one), the home
is copied into it (`runner store copy`) and the same is timed on the store.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import os
import subprocess
import sys
import tempfile
import time

from pipeline import mlmd
from pipeline.config import REPO_ROOT
from pipeline.store_url import Store


def runs_in(home: str) -> int:
    path = os.path.join(home, 'metadata.db')
    return len(mlmd.load_runs(mlmd.connect(Store.sqlite(path)))) if os.path.exists(path) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--workdir', help='keeps the home (default: a temp dir)')
    parser.add_argument('--metadata', help='an empty PostgreSQL store to time too')
    args = parser.parse_args()
    home = os.path.join(args.workdir or tempfile.mkdtemp(prefix='bench_runs_'), 'home')
    while runs_in(home) < args.runs:
        subprocess.run([sys.executable, '-m', 'runner', 'local', '--home', home],
                       cwd=REPO_ROOT, check=True, capture_output=True)
        print(f'{runs_in(home)} runs in {home}', flush=True)
    places = [('SQLite', ['--home', home])]
    if args.metadata:
        subprocess.run([sys.executable, '-m', 'runner', 'store', 'copy', '--from', home, '--to',
                        args.metadata], cwd=REPO_ROOT, check=True, capture_output=True)
        places.append(('PostgreSQL', ['--home', home, '--metadata', args.metadata]))
    for store, where in places:
        for extra in ([], ['--json']):
            best = float('inf')
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run([sys.executable, '-m', 'runner', 'runs', *where, *extra],
                               cwd=REPO_ROOT, check=True, capture_output=True)
                best = min(best, time.perf_counter() - started)
            print(f'runner runs {" ".join(extra)} on {runs_in(home)} runs, {store}: {best:.2f} s '
                  '(best of 3, whole process)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
