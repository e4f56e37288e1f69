"""The Tuner's search against the default hyperparameters and a gradient-boosted
trees yardstick, on one split, in one run.

    .venv/bin/python -m bench.tuning [--trials 20] [--workdir DIR]

Runs the pipeline once (no Tuner) for its ExampleGen split and Transform
output, then, in this process on that split: the network with the default
hyperparameters; the search (models/tuner.py: Bayesian optimisation, seeded,
each trial timed) and the network with the best hyperparameters found; and
scikit-learn's HistGradientBoosting on ExampleGen's raw train/eval splits (with
fare per mile and per minute; a few settings, the best kept). Printed: eval
AUC (exact, from the predictions) and accuracy of each, and the wall time of
every trial and of the whole search.
"""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from bench.pipeline import auc
from pipeline.config import REPO_ROOT

GBT_SETTINGS = [dict(learning_rate=lr, max_iter=it, max_leaf_nodes=leaves)
                for lr, it, leaves in ((0.1, 200, 31), (0.05, 400, 31), (0.05, 400, 63),
                                       (0.03, 800, 31))]


def pipeline_outputs(workdir: str) -> Tuple[str, str, str]:
    """(ExampleGen examples dir, transformed examples dir, transform graph dir)."""
    home = os.path.join(workdir, 'home')
    if not os.path.exists(os.path.join(home, 'metadata.db')):
        subprocess.run([sys.executable, '-m', 'runner', 'local', '--home', home], check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    root = os.path.join(home, 'pipelines', 'chicago-taxi')

    def newest(pattern):
        return max(glob.glob(os.path.join(root, pattern)), key=lambda p: int(os.path.basename(p)))
    return (newest('CsvExampleGen/examples/*'), newest('Transform/transformed_examples/*'),
            newest('Transform/transform_graph/*'))


def fn_args(transformed: str, transform_graph: str, workdir: str, trials: int):
    from tfx.components.trainer.fn_args_utils import FnArgs
    return FnArgs(train_files=[os.path.join(transformed, 'Split-train', '*')],
                  eval_files=[os.path.join(transformed, 'Split-eval', '*')],
                  transform_graph_path=transform_graph, train_steps=600, eval_steps=None,
                  working_dir=os.path.join(workdir, 'tuner'), custom_config={'tune_trials': trials})


def network_scores(args, tf_transform_output, data, hp) -> Tuple[float, float, float]:
    """(exact eval AUC, accuracy, seconds) of the network trained with hp."""
    import tensorflow as tf

    from models import trainer
    started = time.perf_counter()
    with trainer.op_determinism(True):
        model, _ = trainer.train(args, tf_transform_output, hp, tf.distribute.get_strategy(),
                                 data=data)
    seconds = time.perf_counter() - started
    features, labels = data[1]
    scores = model.predict(features, batch_size=4096, verbose=0).reshape(-1)
    labels = labels.numpy()
    return auc(labels, scores), float(((scores > 0.5) == labels).mean()), seconds


def search(args) -> Tuple[Dict, List[Tuple[int, float, float, float]]]:
    """The best hyperparameters and (trial, AUC, accuracy, seconds) of each trial."""
    from models import tuner as tuner_lib
    result = tuner_lib.tuner_fn(args)
    result.tuner.search(**result.fit_kwargs)
    trials = []
    for trial in sorted(result.tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        metrics = trial.metrics
        trials.append((int(trial.trial_id), metrics.get_last_value('val_auc'),
                       metrics.get_last_value('val_accuracy'), metrics.get_last_value('seconds')))
    return result.tuner.get_best_hyperparameters()[0].values, trials


def _frame(examples_dir: str, split: str):
    import pandas as pd
    import tensorflow as tf
    files = glob.glob(os.path.join(examples_dir, f'Split-{split}', '*'))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
        features = tf.train.Example.FromString(record.numpy()).features.feature
        row = {}
        for name, feature in features.items():
            values = (list(feature.float_list.value) or list(feature.int64_list.value)
                      or [v.decode() for v in feature.bytes_list.value])
            row[name] = values[0] if values else None
        rows.append(row)
    return pd.DataFrame(rows)


def gbt_scores(examples_dir: str) -> Tuple[float, float, Dict]:
    """(eval AUC, accuracy, settings) of the best HistGradientBoosting on the raw splits."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    train, evaluation = _frame(examples_dir, 'train'), _frame(examples_dir, 'eval')

    def prepare(frame):
        label = ((frame['tips'].astype(float) > 0.2 * frame['fare'].astype(float))
                 .fillna(False).astype(int).to_numpy())
        x = frame.drop(columns=['tips']).copy()
        x['fare_per_mile'] = x['fare'] / x['trip_miles'].where(x['trip_miles'] > 0)
        x['fare_per_minute'] = x['fare'] / (x['trip_seconds'].where(x['trip_seconds'] > 0) / 60)
        for column in ('payment_type', 'company'):
            x[column] = pd.Categorical(x[column], categories=sorted(
                train[column].dropna().unique()))
        return x, label
    x_train, y_train = prepare(train)
    x_eval, y_eval = prepare(evaluation)
    best = (0.0, 0.0, {})
    for settings in GBT_SETTINGS:
        model = HistGradientBoostingClassifier(categorical_features='from_dtype', random_state=0,
                                               **settings).fit(x_train, y_train)
        scores = model.predict_proba(x_eval)[:, 1]
        result = (auc(y_eval, scores), float(((scores > 0.5) == y_eval).mean()), settings)
        best = max(best, result, key=lambda r: r[0])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--trials', type=int, default=20)
    parser.add_argument('--workdir', help='keeps the home and the search (default: temp dir)')
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_tuning_')
    import tensorflow_transform as tft

    from models import hparams as hp_lib
    from models import trainer
    examples, transformed, graph = pipeline_outputs(workdir)
    search_args = fn_args(transformed, graph, workdir, args.trials)
    tf_transform_output = tft.TFTransformOutput(graph)
    data = trainer.load_data(search_args, tf_transform_output)

    default = network_scores(search_args, tf_transform_output, data, hp_lib.hparams(None))
    started = time.perf_counter()
    best, trials = search(search_args)
    search_seconds = time.perf_counter() - started
    tuned = network_scores(search_args, tf_transform_output, data,
                           hp_lib.hparams(None, hp_lib.from_search(best)))
    gbt = gbt_scores(examples)

    print(f'\n{"trial":>6} {"eval AUC":>9} {"accuracy":>9} {"seconds":>8}')
    for trial_id, trial_auc, accuracy, seconds in trials:
        print(f'{trial_id:>6} {trial_auc:>9.4f} {accuracy:>9.4f} {seconds:>8.1f}')
    print(f'search: {len(trials)} trials in {search_seconds:.0f} s')
    print(f'best hyperparameters: {best}')
    print(f'\n{"":<34}{"eval AUC":>9}{"accuracy":>10}{"seconds":>9}')
    print(f'{"network, default hyperparameters":<34}{default[0]:>9.4f}{default[1]:>10.4f}'
          f'{default[2]:>9.1f}')
    print(f'{"network, tuned hyperparameters":<34}{tuned[0]:>9.4f}{tuned[1]:>10.4f}'
          f'{tuned[2]:>9.1f}')
    print(f'{"HistGradientBoosting (best of " + str(len(GBT_SETTINGS)) + ")":<34}{gbt[0]:>9.4f}'
          f'{gbt[1]:>10.4f}{"":>9}  {gbt[2]}')
    print(f'tuned - yardstick: {tuned[0] - gbt[0]:+.4f} AUC; tuned - default: '
          f'{tuned[0] - default[0]:+.4f} AUC')
    return 0


if __name__ == '__main__':
    sys.exit(main())
