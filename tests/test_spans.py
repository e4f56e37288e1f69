"""Spans: a new span-<N>/ directory triggers a run on it that warm-starts from the
last blessed model, which the Evaluator still uses as its baseline."""

import glob
import json
import os
import subprocess
import sys

import pytest

from operations.spans import new_span, spans_in
from pipeline.store_url import Store
from serving.local_server import REPO
from tests.support import PIPELINE_TRAIN_STEPS, read_rows, runs, write_csv


def _watch(data_root, home):
    return subprocess.run(
        [sys.executable, '-m', 'runner', 'watch', '--once', '--data-root', data_root,
         '--home', home, '--train-steps', str(PIPELINE_TRAIN_STEPS), '--min-auc', '0.5'],
        capture_output=True, text=True, cwd=REPO, timeout=900)


def test_span_directories_are_found(tmp_path):
    write_csv(read_rows(5), str(tmp_path / 'span-2'))
    write_csv(read_rows(5), str(tmp_path / 'span-10'))
    (tmp_path / 'span-3').mkdir()               # no CSV yet: not a span
    (tmp_path / 'notes-4').mkdir()
    assert spans_in(str(tmp_path)) == [2, 10]
    assert new_span(str(tmp_path), Store.sqlite(str(tmp_path / 'no.db')), 'chicago-taxi') == 10


@pytest.fixture(scope='module')
def span_runs(tmp_path_factory):
    data = tmp_path_factory.mktemp('spans')
    home = str(tmp_path_factory.mktemp('span_home'))
    rows = read_rows(6000)
    write_csv(rows[:3000], str(data / 'span-1'))
    first = _watch(str(data), home)
    write_csv(rows[3000:], str(data / 'span-2'))
    second = _watch(str(data), home)
    third = _watch(str(data), home)
    return home, first, second, third


@pytest.mark.e2e
def test_each_new_span_starts_one_run(span_runs):
    _, first, second, third = span_runs
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'New span 1' in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'New span 2' in second.stdout and 'pushed version' in second.stdout
    assert third.returncode == 0 and 'No new span' in third.stdout


@pytest.mark.e2e
def test_the_run_on_the_new_span_warm_starts_and_is_gated(span_runs):
    home = span_runs[0]
    assert sorted(run.span for run in runs(home)) == [1, 2]

    [first, second] = sorted(glob.glob(os.path.join(
        home, 'pipelines', 'chicago-taxi', 'Trainer', 'model_run', '*')),
        key=lambda p: int(os.path.basename(p)))
    assert not os.path.exists(os.path.join(first, 'warm_start.json'))   # nothing to start from
    warm = json.load(open(os.path.join(second, 'warm_start.json')))
    assert warm['restored'] > 0 and warm['base_model'].endswith('Format-Serving')

    evaluations = sorted(glob.glob(os.path.join(
        home, 'pipelines', 'chicago-taxi', 'Evaluator', 'evaluation', '*')),
        key=lambda p: int(os.path.basename(p)))
    config = json.load(open(os.path.join(evaluations[-1], 'eval_config.json')))
    assert len(config['evalConfig']['modelSpecs']) == 2   # candidate and baseline
