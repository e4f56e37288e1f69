"""Two runs side by side: their code (commits, and `git diff --stat` between them
when both are in this checkout), lock and packages, config and hyperparameters,
data (fingerprints, and TFDV drift between the two training sets' statistics
when they differ), metrics overall and per slice with deltas, and whether the
two models are identical."""

import os
import subprocess
from typing import Any, Dict, List, Optional, Sequence

from operations import run_history
from pipeline import mlmd
from pipeline.config import REPO_ROOT, PipelineConfig

SLICE_METRICS = ('example_count', 'auc', 'binary_accuracy')


def _flatten(values: Dict, prefix: str = '') -> Dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def differences(a: Dict, b: Dict, ignore: Sequence[str] = ()) -> List[str]:
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
    lines = [f'Code       A {run_history.code(a)}  B {run_history.code(b)}']
    if a.commit != b.commit and mlmd.UNKNOWN not in (a.commit, b.commit):
        stat = _git_diff_stat(a.commit, b.commit)
        lines += ['  ' + line for line in (stat or 'not both in this checkout\n').splitlines()]
    lock_a, lock_b = a.recorded(mlmd.LOCK_SHA256), b.recorded(mlmd.LOCK_SHA256)
    lines.append('Lock       same' if lock_a == lock_b else
                 f'Lock       A {run_history.short(lock_a)}  B {run_history.short(lock_b)}')
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
        return [f'Data       same (span {a.span}, fingerprint '
                f'{run_history.short(a.data_fingerprint)})']
    lines = [f'Data       A span {a.span} {run_history.short(a.data_fingerprint)}  '
             f'B span {b.span} {run_history.short(b.data_fingerprint)}']
    if a.statistics is None or b.statistics is None or b.schema is None:
        return lines
    statistics_a, statistics_b, schema = a.statistics, b.statistics, b.schema
    import tensorflow_data_validation as tfdv

    from operations.drift import statistics_drift

    def train(statistics: mlmd.Artifact) -> Any:
        return tfdv.load_stats_binary(
            os.path.join(run_history.stored(statistics), 'Split-train', 'FeatureStats.pb'))
    drift = statistics_drift(train(statistics_a), train(statistics_b), tfdv.load_schema_text(
        os.path.join(run_history.stored(schema), 'schema.pbtxt')))
    lines.append('  drift between the training sets: ' + ('none' if not drift else ''))
    lines += [f'    {feature}: {text}' for feature, text in sorted(drift.items())]
    return lines


def _slice_metrics(record: mlmd.RunRecord) -> Dict[str, Dict[str, float]]:
    """Slice name -> metric -> value, overall slice first, slices in their order."""
    if record.evaluation is None:
        return {}
    from operations.html_report import evaluation_data
    data = evaluation_data(run_history.stored(record.evaluation), record.blessed)
    names = data['metric_names']
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in data['rows']}


def _present(value: Optional[float]) -> bool:
    return value is not None and value == value        # not missing, not NaN


def _number(value: Optional[float], name: str = '') -> str:
    if not _present(value):
        return '-'
    return f'{value:.0f}' if name == 'example_count' else f'{value:.4f}'


def _delta(a: Optional[float], b: Optional[float], name: str = '') -> str:
    if a is None or b is None or not (_present(a) and _present(b)):
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
    return f'Model      identical (fingerprint {run_history.short(fa)})' if fa == fb else \
        f'Model      differ: A {run_history.short(fa)}  B {run_history.short(fb)}'


def compare(config: PipelineConfig, run_a: str, run_b: str) -> List[str]:
    """The comparison of two runs (ids or their starts), as lines for people."""
    runs = run_history.load(config)
    a, b = run_history.find(runs, run_a), run_history.find(runs, run_b)
    lines = [f'Runs       A {a.run_id} ({run_history.state(a)})  '
             f'B {b.run_id} ({run_history.state(b)})']
    return lines + code_lines(a, b) + config_lines(a, b) + data_lines(a, b) + \
        metric_lines(a, b) + [model_line(a, b)]
