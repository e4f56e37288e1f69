"""The Trainer's hyperparameters: their defaults, the space the Tuner searches
around them, and how they combine. Importable without TensorFlow (run listings
compare a run's hyperparameters with these).

What the Trainer trains with, each overriding the one before: the defaults;
the best hyperparameters of a Tuner run (the pipeline's own, or the latest on
the home); custom_config['hparams'] (PipelineConfig.hparams).
custom_config['deterministic'] (default True) makes training bit-exact.
"""

from typing import Any, Dict, Optional

HPARAMS_KEY = 'hparams'
DETERMINISTIC_KEY = 'deterministic'
TUNE_TRIALS_KEY = 'tune_trials'      # the Tuner's custom_config: how many trials
HPARAMS_FILE = 'hparams.json'        # in the Trainer's model_run: what it trained with
SEARCH_SEED = 7

# batch_size is per replica; the global batch grows with the replicas.
DEFAULT_HPARAMS: Dict[str, Any] = {
    'batch_size': 512,
    'learning_rate': 0.003,
    'hidden_units': [128, 64],
    'embedding_dim': 8,
    'dropout': 0.3,
    'evaluations': 10,       # validation rounds over the train_steps budget
    'patience': 3,           # rounds without AUC gain before stopping early
    'seed': 42,
}


def changed(given: Dict[str, Any]) -> Dict[str, Any]:
    """The hyperparameters that differ from the defaults."""
    return {k: v for k, v in sorted((given or {}).items()) if DEFAULT_HPARAMS.get(k) != v}


# What the Tuner searches (KerasTuner hyperparameters; train_steps with them).
HIDDEN_UNITS = ('64,32', '128,64', '256,128', '256,128,64')


def define_search_space(hp) -> None:
    """The Tuner's search space, on a keras_tuner.HyperParameters, around the defaults:
    the ranges the taxi model trained sensibly in."""
    hp.Float('learning_rate', 3e-4, 3e-2, sampling='log', default=DEFAULT_HPARAMS['learning_rate'])
    hp.Choice('hidden_units', list(HIDDEN_UNITS), default='128,64')
    hp.Choice('embedding_dim', [4, 8, 16, 32], default=DEFAULT_HPARAMS['embedding_dim'])
    hp.Float('dropout', 0.0, 0.5, step=0.1, default=DEFAULT_HPARAMS['dropout'])
    hp.Choice('batch_size', [256, 512, 1024], default=DEFAULT_HPARAMS['batch_size'])
    hp.Int('train_steps', 300, 2400, step=300, default=600)


def from_search(values: Dict[str, Any]) -> Dict[str, Any]:
    """Tuned values (KerasTuner's) as Trainer hyperparameters, train_steps included."""
    found = {k: v for k, v in values.items() if k in DEFAULT_HPARAMS or k == 'train_steps'}
    if isinstance(found.get('hidden_units'), str):
        found['hidden_units'] = [int(units) for units in found['hidden_units'].split(',')]
    return found


def tuned_values(hyperparameters: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The values of a Tuner's best hyperparameters (its JSON config), if any."""
    return from_search((hyperparameters or {}).get('values', {})) if hyperparameters else {}


def hparams(custom_config, tuned: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Defaults, then tuned values, then custom_config['hparams'] (the rest of
    custom_config belongs to TFX, e.g. the Vertex AI training job's arguments);
    train_steps only when tuned (else the Trainer's TrainArgs decide)."""
    given = (custom_config or {}).get(HPARAMS_KEY) or {}
    unknown = set(given) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(f'unknown Trainer hparams: {sorted(unknown)}')
    return {**DEFAULT_HPARAMS, **(tuned or {}), **given}
