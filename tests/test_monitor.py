"""The serving monitor on real request logs against a real pipeline run."""

import json
import os
import random
import subprocess
import sys

import pytest

from operations.health import check_health, serving_health
from serving import metrics as m
from serving.local_server import REPO
from tests.support import copy_home, log_requests, read_rows, runs, to_instance

ROWS = 2400


def _monitor(home, requests, *extra):
    result = subprocess.run(
        [sys.executable, '-m', 'runner', 'monitor', '--home', home, '--requests', requests,
         *extra], capture_output=True, text=True, cwd=REPO, timeout=600)
    report_path = os.path.join(home, 'monitoring', 'latest.json')
    report = json.load(open(report_path)) if os.path.exists(report_path) else None
    return result, report


@pytest.fixture(scope='module')
def traffic(schema):
    """Served rows: a random sample of the data the pipeline's training sample left out."""
    rows = read_rows()[3000:]
    random.Random(0).shuffle(rows)
    return [to_instance(r, schema) for r in rows[:ROWS]]


def _skewed(instances):
    out = []
    for instance in instances:
        changed = dict(instance)
        changed['payment_type'] = [b'Credit Card']
        changed['fare'] = [instance['fare'][0] * 4 + 20] if instance['fare'] else []
        out.append(changed)
    return out


@pytest.mark.e2e
def test_in_distribution_traffic_raises_no_alarm(pipeline_home, traffic, tmp_path):
    log_requests(str(tmp_path / 'logs' / 'taxi'), traffic)
    result, report = _monitor(pipeline_home[0], str(tmp_path / 'logs'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ''                  # library noise goes to the log, not here
    assert report['examples'] == ROWS
    assert report['skew'] == {} and report['drift'] == {} and report['data'] == {}


@pytest.mark.e2e
def test_injected_skew_and_drift_are_detected_and_named(pipeline_home, traffic, tmp_path):
    # First half as trained on, second half shifted: skew overall, drift between windows.
    half = ROWS // 2
    log_requests(str(tmp_path / 'logs' / 'taxi'), traffic[:half] + _skewed(traffic[half:]))
    result, report = _monitor(pipeline_home[0], str(tmp_path / 'logs'))
    assert result.returncode == 1
    assert result.stderr.startswith('error: findings in served traffic: skew, drift')
    assert result.stderr.count('\n') == 1
    assert 'COMPARATOR_L_INFTY_HIGH' in report['skew']['payment_type']
    assert 'JENSEN_SHANNON' in report['skew']['fare'] or 'SKEW' in report['skew']['fare']
    [drift] = report['drift'].values()
    assert {'payment_type', 'fare'} <= set(drift)
    assert 'payment_type' in result.stdout


@pytest.mark.e2e
def test_too_little_traffic_is_an_error(pipeline_home, traffic, tmp_path):
    log_requests(str(tmp_path / 'taxi'), traffic[:10])
    result, _ = _monitor(pipeline_home[0], str(tmp_path / 'taxi'))
    assert result.returncode == 2 and 'need at least 50' in result.stderr


def test_health_comes_from_the_servers_metrics():
    metrics = m.Metrics()
    for _ in range(98):
        metrics.count(m.REQUEST_COUNT, model_name='chicago_taxi', status='OK')
        metrics.observe(m.REQUEST_LATENCY, 900, model_name='chicago_taxi', API='Predict',
                        entrypoint='GRPC')
    metrics.count(m.REQUEST_COUNT, 2, model_name='chicago_taxi', status='INVALID_ARGUMENT')
    metrics.observe(m.REQUEST_LATENCY, 400_000, model_name='chicago_taxi', API='Predict',
                    entrypoint='GRPC')
    metrics.count(m.REQUEST_COUNT, 50, model_name='other', status='INTERNAL')
    health = serving_health(metrics.prometheus_text(), 'chicago_taxi')
    assert health['requests'] == 100 and health['error_rate'] == pytest.approx(0.02)
    assert health['p50_ms'] == 1.0 and health['p99_ms'] == 500.0
    problems = check_health(health, max_error_rate=0.01, max_p99_ms=100)
    assert set(problems) == {'error_rate', 'p99_latency'}
    assert check_health(health, max_error_rate=0.05, max_p99_ms=1000) == {}


@pytest.mark.e2e
def test_retrain_runs_the_pipeline_on_anomalies(pipeline_home, traffic, tmp_path):
    home = copy_home(pipeline_home[0], tmp_path / 'home')
    log_requests(str(tmp_path / 'logs' / 'taxi'), _skewed(traffic))
    runs_before = len(runs(home))
    result, report = _monitor(home, str(tmp_path / 'logs'), '--retrain', '--data-root',
                              pipeline_home[1])
    assert report['skew'], report
    assert 'Anomalies found: retraining' in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(runs(home)) == runs_before + 1
