"""A static HTML report a person reads: data, model quality, serving drift, lineage.

    python -m runner report --home DIR  ->  DIR/report/index.html

Everything is inline (tables and SVG charts, no scripts, nothing fetched), so
the page opens from disk, from a bucket, or as an e-mail attachment.
  Data       TFDV statistics of the train and eval splits, ExampleValidator anomalies
  Model      TFMA metrics per slice (overall, by hour, by payment type); ROC,
             precision-recall, calibration and confusion-matrix plots
  Serving    the monitor's latest skew, drift and health report
  Lineage    for each run: the data (span, fingerprint), the model, its blessing, the push
"""

import html
import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from ml_metadata.proto import metadata_store_pb2

from runner import mlmd

_STYLE = '''body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:.2em .6em;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left;white-space:nowrap}.bad{color:#b00;font-weight:bold}
.ok{color:#080}.charts{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}
figcaption{font-weight:bold;text-align:center}'''


def _e(value) -> str:
    return html.escape(str(value))


def _number(value) -> str:
    if isinstance(value, float):
        return 'n/a' if math.isnan(value) else f'{value:.4g}'
    return _e(value)


def table(header: Sequence[str], rows: Sequence[Sequence], left: int = 1) -> str:
    """An HTML table; the first `left` columns are text, the rest numbers."""
    cells = ''.join(f'<th class="l">{_e(h)}</th>' if i < left else f'<th>{_e(h)}</th>'
                    for i, h in enumerate(header))
    body = ''.join('<tr>' + ''.join(f'<td class="l">{_e(c)}</td>' if i < left
                                    else f'<td>{_number(c)}</td>' for i, c in enumerate(row))
                   + '</tr>' for row in rows)
    return f'<table><tr>{cells}</tr>{body}</table>'


def line_chart(title: str, series: Dict[str, List[Tuple[float, float]]], x_label: str,
               y_label: str, size: int = 260) -> str:
    """An inline SVG chart of (x, y) series on [0, 1] x [0, 1]."""
    pad, inner = 36, size - 46
    colors = ('#1f77b4', '#d62728', '#2ca02c', '#999')
    parts = [f'<rect x="{pad}" y="10" width="{inner}" height="{inner}" fill="none" '
             'stroke="#888"/>']
    for tick in (0, 0.5, 1):
        x, y = pad + tick * inner, 10 + (1 - tick) * inner
        parts.append(f'<text x="{x}" y="{size - 22}" font-size="10" text-anchor="middle">'
                     f'{tick:g}</text><text x="{pad - 4}" y="{y + 3}" font-size="10" '
                     f'text-anchor="end">{tick:g}</text>')
    for (name, points), color in zip(series.items(), colors):
        coords = ' '.join(f'{pad + min(max(x, 0), 1) * inner:.1f},'
                          f'{10 + (1 - min(max(y, 0), 1)) * inner:.1f}' for x, y in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                     'stroke-width="1.5"/>')
    legend = ' '.join(f'<tspan fill="{c}">■ {_e(n)}</tspan>' for n, c in zip(series, colors))
    parts.append(f'<text x="{pad + inner / 2}" y="{size - 8}" font-size="11" '
                 f'text-anchor="middle">{_e(x_label)} · {legend}</text>')
    parts.append(f'<text x="10" y="{10 + inner / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 10 {10 + inner / 2})">{_e(y_label)}</text>')
    return (f'<figure><figcaption>{_e(title)}</figcaption><svg width="{size}" height="{size}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg></figure>')


# --- Data ------------------------------------------------------------------------------------

def statistics_section(statistics_uri: str, anomalies_uri: Optional[str]) -> str:
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from pipeline.validation_gate import describe

    parts = []
    for split in ('train', 'eval'):
        path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
        if not os.path.exists(path):
            continue
        dataset = tfdv.load_stats_binary(path).datasets[0]
        numeric, categorical = [], []
        for feature in sorted(dataset.features, key=lambda f: f.path.step[0]):
            name = feature.path.step[0]
            if feature.HasField('num_stats'):
                s, c = feature.num_stats, feature.num_stats.common_stats
                total = c.num_non_missing + c.num_missing
                numeric.append((name, c.num_non_missing, 100 * c.num_missing / total if total else 0,
                                s.mean, s.std_dev, s.min, s.median, s.max))
            elif feature.HasField('string_stats'):
                s, c = feature.string_stats, feature.string_stats.common_stats
                total = c.num_non_missing + c.num_missing
                top = ', '.join(f'{v.value} ({v.frequency:.0f})' for v in s.top_values[:3])
                categorical.append((name, top, c.num_non_missing,
                                    100 * c.num_missing / total if total else 0, s.unique))
        parts.append(f'<h3>{split} split: {dataset.num_examples} examples</h3>')
        parts.append(table(['numeric feature', 'count', 'missing %', 'mean', 'std', 'min',
                            'median', 'max'], numeric))
        parts.append(table(['categorical feature', 'top values', 'count', 'missing %', 'unique'],
                           categorical, left=2))
        if anomalies_uri:
            diff = os.path.join(anomalies_uri, f'Split-{split}', 'SchemaDiff.pb')
            if os.path.exists(diff):
                anomalies = anomalies_pb2.Anomalies()
                with open(diff, 'rb') as f:
                    anomalies.ParseFromString(f.read())
                text = describe(anomalies)
                parts.append(f'<p class="bad">Anomalies: {_e(text)}</p>' if text
                             else '<p class="ok">No anomalies against the schema.</p>')
    return ''.join(parts)


# --- Model ---------------------------------------------------------------------------------

def _slice_order(slice_key):
    """Overall first, then by feature, values in numeric order where numeric."""
    return len(slice_key), [(k, (0, v, '') if isinstance(v, (int, float)) else (1, 0, v))
                            for k, v in slice_key]


def _slice_name(slice_key) -> str:
    return ', '.join(f'{k} = {v}' for k, v in slice_key) or 'Overall'


def _value(metric):
    value = metric.get('doubleValue', float('nan'))
    return float(value) if not isinstance(value, str) else float('nan')


def _calibration_points(buckets, bins: int = 10) -> List[Tuple[float, float]]:
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


def evaluation_section(evaluation_uri: str, blessed: Optional[bool]) -> str:
    import tensorflow_model_analysis as tfma
    with open(os.path.join(evaluation_uri, 'eval_config.json')) as f:
        specs = json.load(f)['evalConfig']['modelSpecs']
    # Against a baseline, TFMA names the models 'candidate' and 'baseline'.
    compared = any(spec.get('name') == 'candidate' for spec in specs)
    result = tfma.load_eval_result(evaluation_uri, model_name='candidate' if compared else None)
    names = ['example_count', 'auc', 'auc_precision_recall', 'precision', 'recall',
             'binary_accuracy', 'calibration'] + (['auc_diff'] if compared else [])
    rows = []
    for slice_key, metrics in sorted(result.slicing_metrics, key=lambda s: _slice_order(s[0])):
        values = metrics.get('', {}).get('', {})
        rows.append([_slice_name(slice_key)] + [_value(values.get(n, {})) for n in names])
    verdict = ('' if blessed is None else
               '<p class="ok">Blessed by the Evaluator.</p>' if blessed else
               '<p class="bad">Not blessed by the Evaluator.</p>')
    charts = []
    for slice_key, plots in result.plots:
        if slice_key != ():
            continue
        data = plots.get('', {}).get('', {})
        matrices = data.get('confusionMatrixAtThresholds', {}).get('matrices', [])
        roc = [(m.get('falsePositiveRate', 0), m.get('recall', 0)) for m in matrices]
        pr = [(m.get('recall', 0), m.get('precision', 1)) for m in matrices
              if not isinstance(m.get('precision'), str)]
        charts.append(line_chart('ROC (overall)', {'model': sorted(roc), 'chance': [(0, 0), (1, 1)]},
                                 'false positive rate', 'true positive rate'))
        charts.append(line_chart('Precision-recall (overall)', {'model': sorted(pr)},
                                 'recall', 'precision'))
        calibration = _calibration_points(
            data.get('calibrationHistogramBuckets', {}).get('buckets', []))
        charts.append(line_chart('Calibration (overall)',
                                 {'model': sorted(calibration), 'perfect': [(0, 0), (1, 1)]},
                                 'mean prediction', 'fraction positive'))
        at_half = min(matrices, key=lambda m: abs(m.get('threshold', 0) - 0.5), default=None)
        if at_half:
            confusion = table(['at threshold 0.5', 'predicted 1', 'predicted 0'], [
                ['actual 1', at_half.get('truePositives', 0), at_half.get('falseNegatives', 0)],
                ['actual 0', at_half.get('falsePositives', 0), at_half.get('trueNegatives', 0)]])
            charts.append(f'<figure><figcaption>Confusion matrix (overall)</figcaption>'
                          f'{confusion}</figure>')
    return (verdict + table(['slice'] + names, rows)
            + f'<div class="charts">{"".join(charts)}</div>')


# --- Serving -------------------------------------------------------------------------------

def serving_section(monitoring_dir: str) -> str:
    path = os.path.join(monitoring_dir, 'latest.json')
    if not os.path.exists(path):
        return '<p>No monitoring report yet: run <code>python -m runner monitor</code>.</p>'
    report = json.load(open(path))
    when = time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(path)))
    parts = [f'<p>{report["examples"]} served examples from {report["request_log_files"]} '
             f'request log files, checked {when}.</p>']
    for key, title in (('skew', 'Training-serving skew'), ('data', 'Served data anomalies')):
        found = report.get(key) or {}
        parts.append(f'<h3>{title}</h3>' + (table(['feature', 'finding'], sorted(found.items()), 2)
                                           if found else '<p class="ok">None.</p>'))
    drift = report.get('drift') or {}
    rows = [(window, feature, text) for window, found in drift.items()
            for feature, text in found.items()]
    parts.append('<h3>Drift between windows</h3>' + (
        table(['windows', 'feature', 'finding'], rows, 3) if rows else
        f'<p>{_e(report["drift_skipped"])}.</p>' if report.get('drift_skipped')
        else '<p class="ok">None.</p>'))
    if report.get('health'):
        health = report['health']
        parts.append('<h3>Server health</h3>' + table(
            ['requests', 'error rate', 'p50 ms', 'p99 ms'],
            [[health['requests'], health['error_rate'], health['p50_ms'], health['p99_ms']]], 0))
    return ''.join(parts)


# --- Lineage -------------------------------------------------------------------------------

def lineage_rows(store) -> List[List]:
    """Per pipeline run: data (span, input fingerprint), model, blessing, push."""
    rows = []
    for run in sorted(store.get_contexts_by_type('pipeline_run'), key=lambda c: c.id):
        executions = [e.id for e in store.get_executions_by_context(run.id)]
        outputs = store.get_artifacts_by_id(list({
            e.artifact_id for e in store.get_events_by_execution_ids(executions)
            if e.type == metadata_store_pb2.Event.OUTPUT}))
        by_type = {}
        for artifact in sorted(outputs, key=lambda a: a.id):
            if artifact.type != 'Examples' or '/CsvExampleGen/' in artifact.uri:
                by_type[artifact.type] = artifact
        data = by_type.get('Examples')
        if data is None:
            continue
        model, blessing, push = (by_type.get(t) for t in ('Model', 'ModelBlessing', 'PushedModel'))
        fingerprint = dict(part.split(':', 1) for part in
                           data.custom_properties['input_fingerprint'].string_value.split(',')
                           if ':' in part)
        rows.append([
            run.name, data.custom_properties['span'].int_value,
            f"{fingerprint.get('num_files', '?')} files, {fingerprint.get('total_bytes', '?')} bytes",
            f'#{model.id}' if model else '—',
            '—' if blessing is None else
            ('blessed' if blessing.custom_properties['blessed'].int_value == 1 else 'not blessed'),
            push.custom_properties['pushed_version'].string_value
            if push and push.custom_properties['pushed'].int_value == 1 else '—'])
    return rows


def build_report(home: str, pipeline_root: str) -> str:
    """The report's HTML for the pipeline home."""
    store = mlmd.connect(os.path.join(home, 'metadata.db'))

    def artifact(type_name):
        return mlmd.pushed_run_artifact(store, type_name) or mlmd.latest_artifact(store, type_name)
    statistics, anomalies = artifact('ExampleStatistics'), artifact('ExampleAnomalies')
    evaluation, blessing = artifact('ModelEvaluation'), artifact('ModelBlessing')
    sections = [
        ('Data', statistics_section(statistics.uri, anomalies.uri if anomalies else None)
         if statistics else '<p>No statistics yet.</p>'),
        ('Model', evaluation_section(evaluation.uri, blessing.custom_properties[
            'blessed'].int_value == 1 if blessing else None) if evaluation
         else '<p>No evaluation yet.</p>'),
        ('Serving', serving_section(os.path.join(home, 'monitoring'))),
        ('Lineage', table(['run', 'span', 'input data', 'model', 'evaluation', 'pushed version'],
                          lineage_rows(store), left=6)),
    ]
    body = ''.join(f'<h2 id="{title.lower()}">{title}</h2>{content}' for title, content in sections)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Chicago Taxi pipeline report'
            f'</title><style>{_STYLE}</style></head><body><h1>Chicago Taxi pipeline report</h1>'
            f'<p>{_e(pipeline_root)} · generated {time.strftime("%Y-%m-%d %H:%M")}</p>'
            f'{body}</body></html>')


def write_report(home: str, pipeline_root: str) -> str:
    directory = os.path.join(home, 'report')
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'index.html')
    with open(path, 'w') as f:
        f.write(build_report(home, pipeline_root))
    return path
