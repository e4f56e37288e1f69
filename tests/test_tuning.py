"""The Tuner on a real pipeline run: its search feeds the Trainer, and later runs
without --tune train with what it found, as ML Metadata records."""

import pytest

from models import hparams as hp_lib
from tests.support import copy_home, run_pipeline, runs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def tuned_home(pipeline_home, tmp_path_factory):
    home = copy_home(pipeline_home[0], tmp_path_factory.mktemp('tuned') / 'home')
    tuned = run_pipeline(home, pipeline_home[1], '--tune', '--tune-trials', '2')
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    again = run_pipeline(home, pipeline_home[1])
    assert again.returncode == 0, again.stdout + again.stderr
    later, first, _ = runs(home)            # newest first: the copied run is the oldest
    return home, first, later, tuned, again


def test_the_tuner_searches_and_the_trainer_trains_with_its_best(tuned_home):
    _, first, _, tuned, _ = tuned_home
    assert first.components['Tuner'].state == 'COMPLETE'
    best = first.best_hyperparameters
    assert first.input('Trainer', 'hyperparameters').id == best.id
    trained_with = first.trained_with
    assert set(hp_lib.DEFAULT_HPARAMS) | {'train_steps'} == set(trained_with)
    assert 'Tuner' in tuned.stdout and 'hyperparameters tuned in this run' in tuned.stdout


def test_a_run_without_tune_reuses_the_latest_search(tuned_home):
    _, first, later, _, again = tuned_home
    assert 'Tuner' not in later.components
    assert later.input('Trainer', 'hyperparameters').id == first.best_hyperparameters.id
    assert later.trained_with == first.trained_with
    assert f'hyperparameters tuner run {first.run_id}' in again.stdout
