"""Batch inference with BulkInferrer agrees with the online server, row for row."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from serving.local_server import REPO
from tests.support import (
    assert_batch_agrees_with_online,
    copy_home,
    read_rows,
    write_csv,
)

pytestmark = pytest.mark.e2e

ROWS = 150


@pytest.fixture(scope='module')
def batch_predictions(pipeline_home, tmp_path_factory):
    input_dir = write_csv(read_rows(4000)[-ROWS:], str(tmp_path_factory.mktemp('batch_input')))
    output_dir = str(tmp_path_factory.mktemp('batch_output'))
    home = copy_home(pipeline_home[0], tmp_path_factory.mktemp('batch') / 'home')
    result = subprocess.run(
        [sys.executable, '-m', 'runner', 'batch-predict', '--input', input_dir, '--output',
         output_dir, '--home', home],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'BulkInferrer' in result.stdout
    assert result.stderr == ''                  # library noise goes to the log, not here
    with open(os.path.join(output_dir, 'predictions.csv')) as f:
        return input_dir, list(csv.DictReader(f))


def test_every_row_is_scored(batch_predictions):
    _, rows = batch_predictions
    assert len(rows) == ROWS
    probabilities = np.array([float(r['probability']) for r in rows])
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_batch_and_online_predictions_agree(pipeline_home, batch_predictions):
    input_dir, batch_rows = batch_predictions
    assert_batch_agrees_with_online(pipeline_home[0], input_dir, batch_rows)
