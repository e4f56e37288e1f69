"""Bit-exact in every worker: on Beam's multi-process runner (what `runner local`
picks above 64 MB of input) two fresh runs train the same model to the last bit,
and its weights and vocabularies are those the in-process runner computes.

Only the graph's function names may differ between the two runners: TensorFlow
numbers them with a counter of the process that exports, and that process traced
more functions when Beam's work ran inside it."""

import os

import pytest

from pipeline.fingerprint import file_sha256, relative_files
from tests.support import run_pipeline, runs

pytestmark = pytest.mark.e2e
MULTI_PROCESS = ('--direct-running-mode', 'multi_processing')


def _weights_and_vocabularies(record):
    """sha256 of each variables file and vocabulary of the run's model."""
    directory = os.path.join(record.model.uri, 'Format-Serving')
    return {name: file_sha256(os.path.join(directory, name))
            for name in relative_files(directory) if name.startswith(('variables/', 'assets/'))}


def test_two_multi_process_runs_train_the_in_process_model(pipeline_home, tmp_path):
    records = []
    for name in ('first', 'again'):
        home = str(tmp_path / name)
        result = run_pipeline(home, pipeline_home[1], *MULTI_PROCESS)
        assert result.returncode == 0, result.stdout + result.stderr
        [record] = runs(home)
        records.append(record)
    first, again = records
    assert first.model_fingerprint and first.model_fingerprint == again.model_fingerprint
    in_process = _weights_and_vocabularies(pipeline_home[3])
    assert len(in_process) >= 4 and _weights_and_vocabularies(first) == in_process
