"""The HTML report: its sections from a real pipeline run, and that it renders
in headless Chromium."""

import os
import shutil
import subprocess
import sys

import pytest

from operations.monitoring import write_report as write_monitor_report
from serving.local_server import REPO

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def report(pipeline_home, tmp_path_factory):
    home = str(tmp_path_factory.mktemp('report') / 'home')
    shutil.copytree(pipeline_home[0], home)
    write_monitor_report({'examples': 1200, 'request_log_files': 3, 'data': {},
                          'skew': {'fare': 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: ...',
                                   'company': 'value <script>alert(1)</script> unseen'},
                          'drift': {}, 'drift_skipped': 'windows under 1000 examples'},
                         os.path.join(home, 'monitoring'))
    result = subprocess.run([sys.executable, '-m', 'runner', 'report', '--home', home],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    path = os.path.join(home, 'report', 'index.html')
    assert result.stdout == f'Report: {path}\n'     # the one useful line, no library noise
    assert result.stderr == ''
    return path, open(path).read()


def test_report_has_every_section(report):
    _, page = report
    for heading in ('<h2 id="data">', '<h2 id="model">', '<h2 id="serving">', '<h2 id="lineage">'):
        assert heading in page
    assert 'train split: ' in page and 'payment_type' in page          # TFDV statistics
    assert 'No anomalies against the schema.' in page                   # ExampleValidator
    assert '<td class="l">Overall</td>' in page and 'trip_start_hour = 23' in page  # TFMA slices
    for chart in ('ROC (overall)', 'Precision-recall (overall)', 'Calibration (overall)',
                  'Confusion matrix (overall)'):
        assert chart in page
    assert page.count('<svg') == 3
    assert 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH' in page          # serving drift
    assert 'windows under 1000 examples' in page
    assert 'pushed version' in page and 'blessed' in page                # lineage
    assert '<script' not in page and 'http' not in page.split('</style>')[0]
    assert 'value &lt;script&gt;alert(1)&lt;/script&gt; unseen' in page   # autoescaped


def test_features_without_values_show_as_such(report):
    """CsvExampleGen writes empty value lists for empty cells: the sample has no census
    tract of pickup at all, which shows as 100% of examples without a value."""
    _, page = report
    row = page.split('<td class="l">pickup_census_tract</td>')[1].split('</tr>')[0]
    assert '<td>0</td><td>100</td>' in row                     # no values, 100% without
    fare = page.split('<td class="l">fare</td>')[1].split('</tr>')[0]
    assert '<td>0</td><td>' in fare and '<td></td>' not in fare  # every trip has a fare


def _numeric_feature(dataset, name, values_per_example):
    feature = dataset.features.add()
    feature.path.step.append(name)
    common = feature.num_stats.common_stats
    common.num_non_missing = len(values_per_example)
    common.max_num_values = max(values_per_example)
    common.tot_num_values = sum(values_per_example)
    feature.num_stats.mean = 3.5
    return feature


def test_no_value_share_and_summaries_follow_the_values_present():
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from operations.html_report import _feature_rows
    dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=4)
    _numeric_feature(dataset, 'empty', [0, 0, 0, 0])
    _numeric_feature(dataset, 'half', [1, 0, 1, 0])
    numeric, _ = _feature_rows(dataset)
    assert numeric[0] == ['empty', 0, 100.0, None, None, None, None, None]
    assert numeric[1][:4] == ['half', 2, 50.0, 3.5]


@pytest.mark.skipif(CHROMIUM is None, reason='needs Chromium (Debian package "chromium"), '
                                              'which .ci/run installs')
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image, ImageStat
    path, _ = report
    screenshot = tmp_path / 'report.png'
    subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                    '--no-first-run', '--disable-background-networking',
                    '--disable-component-update', '--disable-sync',
                    f'--user-data-dir={tmp_path / "profile"}', '--window-size=1200,3000',
                    f'--screenshot={screenshot}', f'file://{path}'],
                   capture_output=True, timeout=120, check=True)
    image = Image.open(screenshot).convert('L')
    assert image.size == (1200, 3000)
    assert ImageStat.Stat(image).stddev[0] > 10    # text, tables and charts, not a blank page


def _run_with_auc(run_id, start, auc):
    from pipeline import mlmd
    evaluation = mlmd.Artifact(1, 'ModelEvaluation', '/e', {mlmd.OVERALL_METRICS:
                                                           f'{{"auc": {auc}}}'}, start)
    return mlmd.RunRecord(run_id, 'chicago-taxi', start, start + 1, {}, evaluation=evaluation)


def test_the_auc_chart_follows_the_runs_in_time():
    from operations.html_report import auc_chart
    runs = [_run_with_auc('b', 2.0, 0.94), _run_with_auc('a', 1.0, 0.95),
            _run_with_auc('c', 3.0, 0.96)]
    chart = auc_chart(runs)
    [(x0, y0), (x1, y1), (x2, y2)] = chart['series']['AUC']
    assert (x0, x1, x2) == (0, 0.5, 1) and y1 < y0 < y2     # 0.95, 0.94, 0.96 in time order
    assert chart['y_ticks'][0][1] < '0.94' < '0.96' < chart['y_ticks'][-1][1]
    assert auc_chart(runs[:1]) is None
