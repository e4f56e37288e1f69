"""Bit-exact in every worker: on Beam's multi-process runner (what `runner local`
picks above 64 MB of input) two fresh runs train the model the in-process runner
trains, to the last bit: weights, vocabularies, graph and all."""

import pytest

from tests.support import run_pipeline, runs

pytestmark = pytest.mark.e2e
MULTI_PROCESS = ('--direct-running-mode', 'multi_processing')


def test_two_multi_process_runs_train_the_in_process_model(pipeline_home, tmp_path):
    in_process = pipeline_home[3].model_fingerprint
    assert in_process
    for name in ('first', 'again'):
        home = str(tmp_path / name)
        result = run_pipeline(home, pipeline_home[1], *MULTI_PROCESS)
        assert result.returncode == 0, result.stdout + result.stderr
        [record] = runs(home)
        assert record.model_fingerprint == in_process, name
