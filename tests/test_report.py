"""The HTML report: its sections from a real pipeline run, and that it renders
in headless Chromium."""

import os
import shutil
import subprocess
import sys

import pytest

from runner.monitor import write_report as write_monitor_report
from serving.local_server import REPO

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def report(pipeline_home, tmp_path_factory):
    home = str(tmp_path_factory.mktemp('report') / 'home')
    shutil.copytree(pipeline_home[0], home)
    write_monitor_report({'examples': 1200, 'request_log_files': 3, 'data': {},
                          'skew': {'fare': 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: ...'},
                          'drift': {}, 'drift_skipped': 'windows under 1000 examples'},
                         os.path.join(home, 'monitoring'))
    result = subprocess.run([sys.executable, '-m', 'runner', 'report', '--home', home],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    path = os.path.join(home, 'report', 'index.html')
    assert f'Report: {path}' in result.stdout
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
