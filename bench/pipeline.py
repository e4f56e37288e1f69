"""Times upstream TFX's taxi_pipeline_native_keras.py against ours, in one run.

    .venv/bin/python -m bench.pipeline [--pairs 3] [--factor N] [--workdir DIR]
                                       [--skip-upstream] [--skip-determinism]

Both run on the same data on this machine: the embedded taxi data, or with
--factor N that data N times over (bench/data.py; upstream reads it from
$HOME/taxi/data/simple/, ours from --data-root). They run one after the other,
each in a fresh process and home, --pairs times; the figures are those of the
median pair by the ratio of wall times. Printed: wall seconds and their ratio, peak RSS
of each process tree, seconds per component, eval AUC and accuracy of each
pushed model on its own pipeline's eval split (same code for both), and the
time of a cached re-run of ours, and of a fresh run of ours without
determinism (--no-deterministic), to show what bit-exact runs cost. Upstream runs
with TF_USE_LEGACY_KERAS=1, without which its Trainer fails on Keras 3.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import glob
import os
import shutil
import sys
import tempfile
from typing import Dict, Tuple

import numpy as np
import psutil

from bench.data import csv_files, data_for
from bench.measure import component_seconds, fresh, run_measured
from pipeline.config import REPO_ROOT as REPO

# Runs upstream's script as __main__ with a timestamped log of absl's
# "node X is running/finished" lines (BeamDagRunner's own log has no times).
_UPSTREAM_WRAPPER = '''
import logging, runpy, sys
handler = logging.FileHandler(sys.argv[2])
handler.setFormatter(logging.Formatter('%(asctime)s %(message)s'))
logging.getLogger().addHandler(handler)
runpy.run_path(sys.argv[1], run_name='__main__')
'''


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney U, ties counted half)."""
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def evaluate_pushed_model(serving_dir: str, examples_dir: str) -> Tuple[float, float, int]:
    """(AUC, accuracy, rows) of the newest pushed model on the ExampleGen eval split."""
    import tensorflow as tf
    newest = _newest(os.path.join(serving_dir, '*'))
    serve = tf.saved_model.load(newest).signatures['serving_default']
    files = glob.glob(os.path.join(examples_dir, 'Split-eval', '*'))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
    labels = []
    for record in serialized:
        feature = tf.train.Example.FromString(record).features.feature
        tips, fare = feature['tips'].float_list.value, feature['fare'].float_list.value
        labels.append(int(bool(tips and fare) and np.float32(tips[0]) > np.float32(0.2) * fare[0]))
    labels = np.array(labels)
    scores = np.concatenate([
        next(iter(serve(examples=tf.constant(serialized[i:i + 1024])).values())).numpy().reshape(-1)
        for i in range(0, len(serialized), 1024)])
    return auc(labels, scores), float(((scores > 0.5) == labels).mean()), len(labels)


def _newest(pattern: str) -> str:
    return max(glob.glob(pattern), key=lambda p: int(os.path.basename(p)))


def bench_upstream(workdir: str, data: str) -> Dict:
    """Upstream's script in a fresh $HOME, where it reads its CSV files from."""
    import tfx
    example_dir = os.path.join(os.path.dirname(tfx.__file__), 'examples', 'chicago_taxi_pipeline')
    home = fresh(os.path.join(workdir, 'upstream_home'))
    os.makedirs(os.path.join(home, 'taxi', 'data', 'simple'))
    for path in csv_files(data):
        shutil.copy(path, os.path.join(home, 'taxi', 'data', 'simple'))
    shutil.copy(os.path.join(example_dir, 'taxi_utils_native_keras.py'), os.path.join(home, 'taxi'))
    events = os.path.join(workdir, 'upstream_events.log')
    env = {**os.environ, 'HOME': home, 'TF_USE_LEGACY_KERAS': '1'}
    run = run_measured(
        [sys.executable, '-c', _UPSTREAM_WRAPPER,
         os.path.join(example_dir, 'taxi_pipeline_native_keras.py'), events],
        env, os.path.join(workdir, "upstream_output.log"), REPO)
    pipeline_root = os.path.join(home, 'tfx', 'pipelines', 'chicago_taxi_native_keras')
    quality = evaluate_pushed_model(
        os.path.join(home, 'taxi', 'serving_model', 'chicago_taxi_native_keras'),
        _newest(os.path.join(pipeline_root, 'CsvExampleGen', 'examples', '*')))
    return {'seconds': run.seconds, 'rss': run.peak_rss, 'components': component_seconds(events),
            'quality': quality}


def bench_ours(workdir: str, data: str) -> Dict:
    """A fresh run of ours, then a cached re-run in the same home."""
    home = fresh(os.path.join(workdir, 'ours_home'))
    command = [sys.executable, '-m', 'runner', 'local', '--home', home, '--data-root', data]
    output = os.path.join(workdir, 'ours_output.log')
    run = run_measured(command, dict(os.environ), output, REPO)
    log = sorted(glob.glob(os.path.join(home, 'logs', '*.log')))[0]
    cached = run_measured(command, dict(os.environ), output, REPO)
    quality = evaluate_pushed_model(
        os.path.join(home, 'serving_model', 'chicago_taxi'),
        _newest(os.path.join(home, 'pipelines', 'chicago-taxi', 'CsvExampleGen', 'examples', '*')))
    return {'seconds': run.seconds, 'rss': run.peak_rss, 'components': component_seconds(log),
            'quality': quality, 'cached_seconds': cached.seconds}


def bench_determinism(workdir: str, data: str) -> float:
    """Wall seconds of a fresh run of ours without determinism (--no-deterministic)."""
    home = fresh(os.path.join(workdir, 'nondeterministic_home'))
    return run_measured([sys.executable, '-m', 'runner', 'local', '--home', home,
                         '--data-root', data, '--no-deterministic'], dict(os.environ),
                        os.path.join(workdir, 'nondeterministic_output.log'), REPO).seconds


def report(upstream: Dict, ours: Dict) -> None:
    def row(name, a, b, fmt):
        ratio = f'{b / a:8.2f}' if a and b is not None else ''
        print(f'{name:<34}{fmt.format(a) if a is not None else "-":>12}'
              f'{fmt.format(b):>12}{ratio}')

    mb = 1 << 20
    print(f'\n{"":<34}{"upstream":>12}{"ours":>12}{"ratio":>8}')
    row('wall seconds', upstream.get('seconds'), ours['seconds'], '{:.1f}')
    row('peak RSS, MB (process tree)', upstream['rss'] / mb if upstream else None,
        ours['rss'] / mb, '{:.0f}')
    row('eval AUC', upstream['quality'][0] if upstream else None, ours['quality'][0], '{:.4f}')
    row('eval accuracy', upstream['quality'][1] if upstream else None, ours['quality'][1],
        '{:.4f}')
    print(f'{"eval rows":<34}{upstream["quality"][2] if upstream else "-":>12}'
          f'{ours["quality"][2]:>12}')
    print('seconds per component:')
    names = list(ours['components']) + [n for n in upstream.get('components', {})
                                        if n not in ours['components']]
    for name in names:
        a = upstream.get('components', {}).get(name)
        b = ours['components'].get(name)
        cells = ['-' if value is None else f'{value:.1f}' for value in (a, b)]
        print(f'  {name:<32}{cells[0]:>12}{cells[1]:>12}')
    print(f'cached re-run of ours: {ours["cached_seconds"]:.1f} s (all components before '
          f'Evaluator from the MLMD cache)')
    if 'nondeterministic_seconds' in ours:
        free = ours['nondeterministic_seconds']
        print(f'determinism: {ours["seconds"]:.1f} s with, {free:.1f} s without '
              f'({(ours["seconds"] / free - 1) * 100:+.1f}%)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workdir', help='keep homes and logs here (default: a temp dir)')
    parser.add_argument('--pairs', type=int, default=3,
                        help='paired runs, upstream then ours, each in fresh homes (default 3)')
    parser.add_argument('--factor', type=int, default=1,
                        help='the taxi data N times over, for both (default 1: as embedded)')
    parser.add_argument('--skip-upstream', action='store_true', help='time only ours')
    parser.add_argument('--skip-determinism', action='store_true',
                        help='no extra run without determinism')
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_pipeline_')
    os.makedirs(workdir, exist_ok=True)
    print(f'machine: {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / (1 << 30):.0f} GB;'
          f' work dir {workdir}', flush=True)
    data = data_for(args.factor, workdir)
    print(f'data: {args.factor}x, {len(csv_files(data))} CSV file(s) in {data}', flush=True)
    pairs = []
    for index in range(args.pairs):
        pair_dir = os.path.join(workdir, f'pair{index}')
        os.makedirs(pair_dir, exist_ok=True)
        upstream = {} if args.skip_upstream else bench_upstream(pair_dir, data)
        ours = bench_ours(pair_dir, data)
        pairs.append((upstream, ours))
        ratio = f', ratio {ours["seconds"] / upstream["seconds"]:.2f}' if upstream else ''
        print(f'pair {index + 1}: upstream {upstream.get("seconds", float("nan")):.1f} s, '
              f'ours {ours["seconds"]:.1f} s{ratio}', flush=True)
    upstream, ours = sorted(pairs, key=lambda p: p[1]['seconds'] / p[0]['seconds']
                            if p[0] else p[1]['seconds'])[len(pairs) // 2]
    if not args.skip_determinism:
        ours['nondeterministic_seconds'] = bench_determinism(workdir, data)
    print(f'\nthe median pair of {len(pairs)}, at {args.factor}x:')
    report(upstream, ours)
    return 0


if __name__ == '__main__':
    sys.exit(main())
