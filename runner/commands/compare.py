"""Compare two runs side by side: their code (commits, and `git diff --stat`
between them when both are in this checkout), lock and packages, config and
hyperparameters, data (fingerprints, and TFDV drift between the two training
sets' statistics when they differ), metrics overall and per slice with deltas,
and whether the two models are identical."""

import os
import subprocess
from typing import Dict, List, Optional

from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig
from runner import history
from runner.commands import arguments

NAME = 'compare'
HELP = 'two runs side by side: code, config, data, metrics, model'
EXAMPLES = '''examples:
  python -m runner compare 2026-12-01T20:28 2026-12-01T20:41
  python -m runner compare --home /data/taxi_home RUN_A RUN_B
'''
WRITES_HOME = False
SLICE_METRICS = ('example_count', 'auc', 'binary_accuracy')


def add_arguments(parser) -> None:
    parser.add_argument('run_a', metavar='RUN_A', help='a run id or the start of one')
    parser.add_argument('run_b', metavar='RUN_B', help='another run')
    arguments.add_home(parser)


def check(args) -> None:
    arguments.home_with_runs(args.home)


def _flatten(values: Dict, prefix: str = '') -> Dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def differences(a: Dict, b: Dict, ignore=()) -> List[str]:
    """`key: A -> B` for every (nested) key whose value differs."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [f'{key}: {flat_a.get(key, "-")} -> {flat_b.get(key, "-")}'
            for key in sorted(set(flat_a) | set(flat_b))
            if key not in ignore and flat_a.get(key) != flat_b.get(key)]


def _git_diff_stat(commit_a: str, commit_b: str) -> Optional[str]:
    try:
        return subprocess.run(['git', '-C', REPO_ROOT, 'diff', '--stat', commit_a, commit_b],
                              capture_output=True, check=True, timeout=60).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None    # a commit this checkout does not have


def code_lines(a: mlmd.RunRecord, b: mlmd.RunRecord) -> List[str]:
    lines = [f'Code       A {history.code(a)}  B {history.code(b)}']
    if a.commit != b.commit and mlmd.UNKNOWN not in (a.commit, b.commit):
        stat = _git_diff_stat(a.commit, b.commit)
        lines += ['  ' + line for line in (stat or 'not both in this checkout\n').splitlines()]
    lock_a, lock_b = a.recorded(mlmd.LOCK_SHA256), b.recorded(mlmd.LOCK_SHA256)
    lines.append('Lock       same' if lock_a == lock_b else
                 f'Lock       A {history.short(lock_a)}  B {history.short(lock_b)}')
    packages = differences(a.recorded(mlmd.PACKAGE_VERSIONS, {}),
                           b.recorded(mlmd.PACKAGE_VERSIONS, {}))
    lines.append('Packages   ' + ('same' if not packages else '; '.join(packages)))
    return lines


def config_lines(a: mlmd.RunRecord, b: mlmd.RunRecord) -> List[str]:
    # Paths under the home differ between homes by nature; what was asked for is the rest.
    found = differences(a.config, b.config, ignore=('home', 'schema_file'))
    return ['Config     ' + ('same' if not found else found[0])] + \
        [f'           {line}' for line in found[1:]]


def data_lines(a: mlmd.RunRecord, b: mlmd.RunRecord) -> List[str]:
    if a.data_fingerprint == b.data_fingerprint:
        return [f'Data       same (span {a.span}, fingerprint {history.short(a.data_fingerprint)})']
    lines = [f'Data       A span {a.span} {history.short(a.data_fingerprint)}  '
             f'B span {b.span} {history.short(b.data_fingerprint)}']
    if a.statistics is None or b.statistics is None or b.schema is None:
        return lines
    import tensorflow_data_validation as tfdv

    from runner.monitor import statistics_drift

    def train(record):
        return tfdv.load_stats_binary(
            os.path.join(record.statistics.uri, 'Split-train', 'FeatureStats.pb'))
    drift = statistics_drift(train(a), train(b),
                             tfdv.load_schema_text(os.path.join(b.schema.uri, 'schema.pbtxt')))
    lines.append('  drift between the training sets: ' + ('none' if not drift else ''))
    lines += [f'    {feature}: {text}' for feature, text in sorted(drift.items())]
    return lines


def _slice_metrics(record: mlmd.RunRecord) -> Dict[str, Dict[str, float]]:
    """Slice name -> metric -> value, overall slice first, slices in their order."""
    if record.evaluation is None:
        return {}
    from runner.report import evaluation_data
    data = evaluation_data(record.evaluation.uri, record.blessed)
    names = data['metric_names']
    return {row[0]: dict(zip(names, row[1:])) for row in data['rows']}


def _present(value: Optional[float]) -> bool:
    return value is not None and value == value        # not missing, not NaN


def _number(value: Optional[float], name: str = '') -> str:
    if not _present(value):
        return '-'
    return f'{value:.0f}' if name == 'example_count' else f'{value:.4f}'


def _delta(a: Optional[float], b: Optional[float], name: str = '') -> str:
    if not (_present(a) and _present(b)):
        return ''
    return f'{b - a:+.0f}' if name == 'example_count' else f'{b - a:+.4f}'


def metric_lines(a: mlmd.RunRecord, b: mlmd.RunRecord) -> List[str]:
    lines = [f'Metrics    {"overall":<24}{"A":>10} {"B":>10} {"delta":>10}']
    for name in sorted(set(a.metrics) | set(b.metrics)):
        if not name.endswith('_diff'):
            x, y = a.metrics.get(name), b.metrics.get(name)
            lines.append(f'           {name:<24}{_number(x, name):>10} {_number(y, name):>10} '
                         f'{_delta(x, y, name):>10}')
    slices_a, slices_b = _slice_metrics(a), _slice_metrics(b)
    names = list(slices_a) + [n for n in slices_b if n not in slices_a]
    if names:
        header = ''.join(f'{m + " A / B / delta":>34}' for m in SLICE_METRICS)
        lines.append(f'  {"per slice":<32}{header}')
        for name in names:
            cells = ''
            for metric in SLICE_METRICS:
                x, y = slices_a.get(name, {}).get(metric), slices_b.get(name, {}).get(metric)
                cells += f'{_number(x, metric):>12}{_number(y, metric):>11}' \
                         f'{_delta(x, y, metric):>11}'
            lines.append(f'  {name:<32}{cells}')
    return lines


def model_line(a: mlmd.RunRecord, b: mlmd.RunRecord) -> str:
    fa, fb = a.model_fingerprint, b.model_fingerprint
    if fa is None or fb is None:
        return 'Model      not both recorded'
    return f'Model      identical (fingerprint {history.short(fa)})' if fa == fb else \
        f'Model      differ: A {history.short(fa)}  B {history.short(fb)}'


def run(args) -> int:
    config = PipelineConfig(home=os.path.abspath(args.home))
    runs = history.load(config)
    a, b = history.find(runs, args.run_a), history.find(runs, args.run_b)
    lines = [f'Runs       A {a.run_id} ({history.state(a)})  B {b.run_id} ({history.state(b)})']
    lines += code_lines(a, b) + config_lines(a, b) + data_lines(a, b) + metric_lines(a, b)
    lines.append(model_line(a, b))
    print('\n'.join(lines))
    return 0
