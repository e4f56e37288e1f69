"""A static HTML report a person reads: data, model quality, serving drift, lineage.

    python -m runner report --home DIR  ->  DIR/report/index.html

The figures are gathered here as plain values (from TFDV statistics, TFMA
results, the monitor's report and ML Metadata's run records) and rendered by
the Jinja2 template operations/templates/report.html, autoescaped. Everything is
inline (tables and SVG charts, no scripts, nothing fetched), so the page opens
from disk, from a bucket, or as an e-mail attachment.
"""

import json
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from operations import run_history
from pipeline import mlmd
from pipeline.config import PipelineConfig

Points = List[Tuple[float, float]]


# --- Data ------------------------------------------------------------------------------------

def examples_without_value(common_stats: Any, num_examples: int) -> float:
    """Share of examples in which a feature has no value. CsvExampleGen writes an empty
    value list for an empty cell, so TFDV counts the feature as present (num_missing 0):
    what tells is how many values it holds. With at most one value per example that is
    tot_num_values; otherwise the quantiles of values per example say it."""
    if not num_examples:
        return 0.0
    if common_stats.max_num_values <= 1:
        with_value = common_stats.tot_num_values
    else:
        empty = sum(b.sample_count for b in common_stats.num_values_histogram.buckets
                    if b.high_value == 0)
        with_value = common_stats.num_non_missing - empty
    return 1 - with_value / num_examples


def _feature_rows(dataset: Any) -> Tuple[List[list], List[list]]:
    numeric: List[list] = []
    categorical: List[list] = []
    for feature in sorted(dataset.features, key=lambda f: f.path.step[0]):
        name = feature.path.step[0]
        if feature.HasField('num_stats'):
            s, c = feature.num_stats, feature.num_stats.common_stats
            missing = examples_without_value(c, dataset.num_examples)
            summary = [None] * 5 if missing >= 1 else [s.mean, s.std_dev, s.min, s.median, s.max]
            numeric.append([name, round(c.tot_num_values), 100 * missing] + summary)
        elif feature.HasField('string_stats'):
            s, c = feature.string_stats, feature.string_stats.common_stats
            top = ', '.join(f'{v.value} ({v.frequency:.0f})' for v in s.top_values[:3])
            categorical.append([name, top, round(c.tot_num_values),
                                100 * examples_without_value(c, dataset.num_examples), s.unique])
    return numeric, categorical


def statistics_data(statistics_uri: str, anomalies_uri: Optional[str]) -> List[Dict]:
    """Per split: example count, numeric and categorical feature rows, anomalies."""
    import tensorflow_data_validation as tfdv

    from pipeline.validation_gate import describe, read_anomalies_file
    splits = []
    for split in ('train', 'eval'):
        path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
        if not os.path.exists(path):
            continue
        dataset = tfdv.load_stats_binary(path).datasets[0]
        numeric, categorical = _feature_rows(dataset)
        anomalies = None
        if anomalies_uri:
            diff = os.path.join(anomalies_uri, f'Split-{split}', 'SchemaDiff.pb')
            if os.path.exists(diff):
                anomalies = describe(read_anomalies_file(diff))
        splits.append({'name': split, 'examples': dataset.num_examples, 'numeric': numeric,
                       'categorical': categorical, 'anomalies': anomalies})
    return splits


# --- Model ---------------------------------------------------------------------------------

METRIC_NAMES = ['example_count', 'auc', 'auc_precision_recall', 'precision', 'recall',
                'binary_accuracy', 'calibration']


def _slice_order(slice_key: Sequence[Tuple[str, Any]]) -> Tuple[int, List[Tuple[str, tuple]]]:
    """Overall first, then by feature, values in numeric order where numeric."""
    return len(slice_key), [(k, (0, v, '') if isinstance(v, (int, float)) else (1, 0, v))
                            for k, v in slice_key]


def _slice_name(slice_key: Sequence[Tuple[str, Any]]) -> str:
    return ', '.join(f'{k} = {v}' for k, v in slice_key) or 'Overall'


def _value(metric: Dict[str, Any]) -> float:
    value = metric.get('doubleValue', float('nan'))
    return float(value) if not isinstance(value, str) else float('nan')


def _calibration_points(buckets: Sequence[Dict[str, float]], bins: int = 10) -> Points:
    """(mean prediction, fraction positive) per tenth of the prediction range: TFMA's
    thousands of fine buckets hold a handful of examples each."""
    totals = [[0.0, 0.0, 0.0] for _ in range(bins)]   # examples, labels, predictions
    for bucket in buckets:
        count = bucket.get('numWeightedExamples', 0)
        if count:
            mean = bucket['totalWeightedRefinedPrediction'] / count
            total = totals[min(max(int(mean * bins), 0), bins - 1)]
            total[0] += count
            total[1] += bucket['totalWeightedLabel']
            total[2] += bucket['totalWeightedRefinedPrediction']
    return [(p / n, y / n) for n, y, p in totals if n]


UNIT_TICKS = [(0, '0'), (0.5, '0.5'), (1, '1')]


def _chart(title: str, series: Dict[str, Points], x_label: str, y_label: str) -> Dict:
    """A line chart of (x, y) series on [0, 1] x [0, 1], ticks at (position, label)."""
    return {'title': title, 'series': series, 'x_label': x_label, 'y_label': y_label,
            'x_ticks': UNIT_TICKS, 'y_ticks': UNIT_TICKS}


def _overall_charts(data: Dict[str, Any]) -> Tuple[List[Dict], Optional[List[list]]]:
    """ROC, precision-recall and calibration charts, and the confusion matrix at 0.5."""
    matrices = data.get('confusionMatrixAtThresholds', {}).get('matrices', [])
    roc = [(m.get('falsePositiveRate', 0), m.get('recall', 0)) for m in matrices]
    pr = [(m.get('recall', 0), m.get('precision', 1)) for m in matrices
          if not isinstance(m.get('precision'), str)]
    buckets = data.get('calibrationHistogramBuckets', {}).get('buckets', [])
    calibration = _calibration_points(buckets)
    charts = [
        _chart('ROC (overall)', {'model': sorted(roc), 'chance': [(0, 0), (1, 1)]},
               'false positive rate', 'true positive rate'),
        _chart('Precision-recall (overall)', {'model': sorted(pr)}, 'recall', 'precision'),
        _chart('Calibration (overall)', {'model': sorted(calibration), 'perfect': [(0, 0), (1, 1)]},
               'mean prediction', 'fraction positive')]
    at_half = min(matrices, key=lambda m: abs(m.get('threshold', 0) - 0.5), default=None)
    confusion = None if at_half is None else [
        ['actual 1', at_half.get('truePositives', 0), at_half.get('falseNegatives', 0)],
        ['actual 0', at_half.get('falsePositives', 0), at_half.get('trueNegatives', 0)]]
    return charts, confusion


def evaluation_data(evaluation_uri: str, blessed: Optional[bool]) -> Dict:
    """TFMA metrics per slice (with the change against the baseline), overall charts."""
    import tensorflow_model_analysis as tfma
    with open(os.path.join(evaluation_uri, 'eval_config.json')) as f:
        specs = json.load(f)['evalConfig']['modelSpecs']
    # Against a baseline, TFMA names the models 'candidate' and 'baseline'.
    compared = any(spec.get('name') == 'candidate' for spec in specs)
    result = tfma.load_eval_result(evaluation_uri, model_name='candidate' if compared else None)
    names = METRIC_NAMES + (['auc_diff'] if compared else [])
    rows = []
    for slice_key, metrics in sorted(result.slicing_metrics, key=lambda s: _slice_order(s[0])):
        values = metrics.get('', {}).get('', {})
        rows.append([_slice_name(slice_key)] + [_value(values.get(n, {})) for n in names])
    charts: List[Dict] = []
    confusion: Optional[List[list]] = None
    for slice_key, plots in result.plots:
        if slice_key == ():
            charts, confusion = _overall_charts(plots.get('', {}).get('', {}))
    return {'blessed': blessed, 'metric_names': names, 'rows': rows, 'charts': charts,
            'confusion': confusion}


# --- Serving -------------------------------------------------------------------------------

def serving_data(monitoring_dir: str) -> Optional[Dict]:
    """The monitor's latest report, with when it was written; None before the first."""
    path = os.path.join(monitoring_dir, 'latest.json')
    if not os.path.exists(path):
        return None
    with open(path) as f:
        report = json.load(f)
    drift = [(window, feature, text) for window, found in (report.get('drift') or {}).items()
             for feature, text in found.items()]
    return {'examples': report['examples'], 'request_log_files': report['request_log_files'],
            'checked': time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(path))),
            'skew': sorted((report.get('skew') or {}).items()),
            'data': sorted((report.get('data') or {}).items()),
            'drift_rows': drift, 'drift_skipped': report.get('drift_skipped'),
            'health': report.get('health')}


# --- Lineage -------------------------------------------------------------------------------

LINEAGE_HEADER = ['run', 'started', 'state', 'by', 'code', 'data', 'hyperparameters', 'AUC',
                  'evaluation', 'pushed version']


def lineage_rows(runs: Sequence[mlmd.RunRecord], serving: Optional[int],
                 activity: run_history.Activity = run_history.Activity()) -> List[List]:
    """Per run, oldest first: code, data, hyperparameter changes, AUC, blessing, push."""
    rows = []
    for run in sorted(runs, key=lambda r: r.start):
        pushed = run.pushed_version or '—'
        if run.pushed_version is not None and run.pushed_version == str(serving):
            pushed += ' (serving now)'
        changes = run_history.hyperparameter_changes(run) if run.manifest else {}
        rows.append([
            run.run_id, run_history.when(run.start), run_history.state(run, activity),
            run_history.who(run) if run.user else '—',
            run_history.code(run) if run.manifest else '—',
            f'span {run.span}, {run_history.short(run.data_fingerprint)}' if run.examples else '—',
            ', '.join(f'{k} {v}' for k, v in changes.items())
            or ('defaults' if run.manifest else '—'),
            f'{run.auc:.4f}' if run.auc is not None else '—',
            '—' if run.blessed is None else 'blessed' if run.blessed else 'not blessed',
            pushed])
    return rows


def auc_chart(runs: Sequence[mlmd.RunRecord]) -> Optional[Dict]:
    """Eval AUC of each run that has one, oldest first, on a scale fitted to them."""
    points = [r.auc for r in sorted(runs, key=lambda r: r.start) if r.auc is not None]
    if len(points) < 2:
        return None
    low, high = min(points), max(points)
    margin = max((high - low) * 0.1, 0.001)
    low, high = low - margin, high + margin
    count = len(points) - 1
    chart = _chart('Eval AUC over runs', {'AUC': [(i / count, (auc - low) / (high - low))
                                                  for i, auc in enumerate(points)]},
                   'run (oldest to newest)', 'AUC')
    chart['x_ticks'] = [(0, '1'), (1, str(len(points)))]
    chart['y_ticks'] = [(0, f'{low:.3f}'), (0.5, f'{(low + high) / 2:.3f}'), (1, f'{high:.3f}')]
    return chart


# --- The page ------------------------------------------------------------------------------

def _number(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return 'n/a' if math.isnan(value) else f'{value:.4g}'
    return str(value)


def _svg_points(points: Points, pad: int, inner: int) -> str:
    """Chart coordinates for (x, y) on [0, 1] x [0, 1], y up."""
    return ' '.join(f'{pad + min(max(x, 0), 1) * inner:.1f},'
                    f'{10 + (1 - min(max(y, 0), 1)) * inner:.1f}' for x, y in points)


def render(context: Dict) -> str:
    import jinja2
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader('operations', 'templates'), autoescape=True,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters.update(number=_number, svg_points=_svg_points)
    return environment.get_template('report.html').render(**context)


def report_context(config: PipelineConfig,
                   activity: run_history.Activity = run_history.Activity()) -> Dict:
    """Every figure of the report, from the run that pushed the model in service
    (else the newest run that has the artifact)."""
    runs = run_history.load(config)
    training = [r for r in runs if not run_history.is_rollback(r)]
    serving = run_history.serving_now(config, runs)
    pushed = run_history.trained_by(runs, serving) if serving is not None else None
    sources = ([pushed] if pushed else []) + training

    def artifact(stage: str) -> Optional[mlmd.Artifact]:
        return next((getattr(r, stage) for r in sources if getattr(r, stage) is not None), None)
    statistics, anomalies = artifact('statistics'), artifact('anomalies')
    evaluation, blessing = artifact('evaluation'), artifact('blessing')
    return {
        'title': 'Chicago Taxi pipeline report',
        'pipeline_root': config.pipeline_root,
        'store': config.store.url,
        'generated': time.strftime('%Y-%m-%d %H:%M'),
        'splits': statistics_data(run_history.stored(statistics),
                                  run_history.stored(anomalies) if anomalies else None)
        if statistics else None,
        'evaluation': evaluation_data(run_history.stored(evaluation),
                                      blessing.get(mlmd.BLESSED) == 1
                                      if blessing else None) if evaluation else None,
        'serving': serving_data(config.paths.monitoring_dir),
        'lineage_header': LINEAGE_HEADER,
        'lineage': lineage_rows(runs, serving, activity),
        'auc_chart': auc_chart(training),
    }


def write_report(config: PipelineConfig,
                 activity: run_history.Activity = run_history.Activity()) -> str:
    html = render(report_context(config, activity))
    os.makedirs(config.paths.report_dir, exist_ok=True)
    path = os.path.join(config.paths.report_dir, 'index.html')
    with open(path, 'w') as f:
        f.write(html)
    return path
