"""Where training runs: every local GPU, several workers, or the plain CPU path.

    TF_CONFIG names more than one worker  -> MultiWorkerMirroredStrategy
    several local GPUs, or logical CPUs   -> MirroredStrategy over them
    otherwise                             -> the default strategy (unchanged CPU path)

The global batch is the per-replica batch times the replicas. GPUs that run
float16 fast (compute capability 7.0+) train in mixed precision.
"""

import json
import os

import tensorflow as tf
import tf_keras as keras


def _cluster() -> dict:
    return json.loads(os.environ.get('TF_CONFIG') or '{}')


def strategy() -> tf.distribute.Strategy:
    cluster = _cluster().get('cluster', {})
    if len(cluster.get('worker', [])) + len(cluster.get('chief', [])) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices('GPU') or tf.config.list_logical_devices('CPU')
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """The worker that writes the model (every worker must save, the others to scratch)."""
    task = _cluster().get('task', {})
    cluster = _cluster().get('cluster', {})
    if task.get('type') == 'chief':
        return True
    return task.get('type', 'worker') == 'worker' and task.get('index', 0) == 0 \
        and not cluster.get('chief')


def use_mixed_precision() -> bool:
    """mixed_float16 when every local GPU supports it; returns whether it is on."""
    gpus = tf.config.list_physical_devices('GPU')
    capable = gpus and all(
        tf.config.experimental.get_device_details(gpu).get('compute_capability', (0, 0)) >= (7, 0)
        for gpu in gpus)
    if capable:
        keras.mixed_precision.set_global_policy('mixed_float16')
    return bool(capable)
