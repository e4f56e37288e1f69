"""The Trainer's hyperparameters and their defaults, importable without TensorFlow
(run listings compare a run's hyperparameters with these).

The Trainer's custom_config['hparams'] overrides the defaults;
custom_config['deterministic'] (default True) makes training bit-exact.
"""

from typing import Any, Dict

HPARAMS_KEY = 'hparams'
DETERMINISTIC_KEY = 'deterministic'

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


def hparams(custom_config) -> Dict[str, Any]:
    """Defaults overridden by custom_config['hparams'] (the rest of custom_config
    belongs to TFX, e.g. the Vertex AI training job's arguments)."""
    given = (custom_config or {}).get(HPARAMS_KEY) or {}
    unknown = set(given) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(f'unknown Trainer hparams: {sorted(unknown)}')
    return {**DEFAULT_HPARAMS, **given}


def changed(given: Dict[str, Any]) -> Dict[str, Any]:
    """The hyperparameters that differ from the defaults."""
    return {k: v for k, v in sorted((given or {}).items()) if DEFAULT_HPARAMS.get(k) != v}
