"""The Tuner's tuner_fn (referenced as `models.tuner.tuner_fn`, like run_fn):
KerasTuner's Bayesian optimisation over models/hparams.py's search space,
objective eval AUC, seeded.

Each trial is one run of the Trainer's own training (models/trainer.py train:
the same network, input order, early stopping and determinism) on data read
once for all trials; KerasTuner only proposes hyperparameters and keeps score.
(KerasTuner's default trial would hand Keras 3 callbacks to a tf-keras model.)
"""

import time
from typing import Any, Dict

import keras_tuner as kt
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.tuner.component import TunerFnResult

from models import hparams as hp_lib
from models import trainer

OBJECTIVE = kt.Objective('val_auc', direction='max')


class TaxiTuner(kt.BayesianOptimization):
    """Bayesian optimisation whose trials train with the Trainer's train()."""

    def run_trial(self, trial, fn_args, tf_transform_output, data) -> Dict[str, Any]:
        started = time.perf_counter()
        hp = hp_lib.hparams(None, hp_lib.from_search(trial.hyperparameters.values))
        with trainer.op_determinism(True):
            model, eval_data = trainer.train(fn_args, tf_transform_output, hp,
                                             tf.distribute.get_strategy(), data=data)
            scores = model.evaluate(eval_data, verbose=0, return_dict=True)
        return {'val_auc': scores['auc'], 'val_accuracy': scores['accuracy'],
                'seconds': time.perf_counter() - started}


def search_space() -> kt.HyperParameters:
    space = kt.HyperParameters()
    hp_lib.define_search_space(space)
    return space


def tuner_fn(fn_args) -> TunerFnResult:
    """A seeded search of custom_config['tune_trials'] trials (default 10)."""
    trials = int((fn_args.custom_config or {}).get(hp_lib.TUNE_TRIALS_KEY, 10))
    tuner = TaxiTuner(
        objective=OBJECTIVE, max_trials=trials, num_initial_points=max(2, trials // 3),
        seed=hp_lib.SEARCH_SEED, hyperparameters=search_space(), tune_new_entries=False,
        directory=fn_args.working_dir, project_name='chicago_taxi', overwrite=True)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    return TunerFnResult(tuner=tuner, fit_kwargs={
        'fn_args': fn_args, 'tf_transform_output': tf_transform_output,
        'data': trainer.load_data(fn_args, tf_transform_output)})
