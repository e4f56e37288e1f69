"""Run the whole pipeline with TFX's LocalDagRunner on this machine: ingest,
statistics, schema, validation, Transform, Trainer, Evaluator, canary and push.
One line per component; TensorFlow's and Beam's logs go to HOME/logs."""

import argparse
import dataclasses

from runner import local
from runner.commands import arguments

NAME = 'local'
HELP = 'run the pipeline with LocalDagRunner on this machine'
EXAMPLES = '''examples:
  python -m runner local
  python -m runner local --home /data/taxi_home --data-root /data/taxi --train-steps 2000
  python -m runner local --data-root /data/spans --spans 3      # latest 3 span-<N>/ directories
  python -m runner local --tune --tune-trials 20                # search, then train with the best
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    arguments.add_home(parser)
    arguments.add_data_root(parser)
    arguments.add_training(parser)
    arguments.add_spans(parser)
    parser.add_argument('--direct-running-mode', default='auto',
                        choices=('auto',) + local.DIRECT_RUNNING_MODES,
                        help='Beam DirectRunner mode (default auto: in this process up to 64 MB '
                             'of input, else one worker process per core)')
    parser.add_argument('--deterministic', action=argparse.BooleanOptionalAction, default=True,
                        help='bit-exact training and transform (default); --no-deterministic '
                             'only to measure what it costs')
    parser.add_argument('--tune', action='store_true',
                        help='run the Tuner (KerasTuner, Bayesian optimisation) before the '
                             'Trainer; without it, the Trainer takes the best hyperparameters '
                             'of the latest Tuner run on this home, else the defaults')
    parser.add_argument('--tune-trials', type=arguments.positive_int,
                        help='trials of the search (default 10; needs --tune)')
    parser.add_argument('--infra-validator', choices=('docker', 'kubernetes'),
                        help="TFX's InfraValidator with the tensorflow/serving image on Docker or "
                             "Kubernetes, in place of this project's serving canary")


def home_to_lock(args) -> str:
    return args.home


def check(args) -> None:
    arguments.home_for_writing(args.home)
    arguments.data_root(args.data_root)
    arguments.tuning(args)


def run(args) -> int:
    config = local.local_config(args.home, args.data_root, args.spans, train_steps=args.train_steps,
                        min_auc=args.min_auc, infra_validator=args.infra_validator,
                        deterministic=args.deterministic, tune_trials=args.tune_trials or 0)
    if args.direct_running_mode != 'auto':
        config = dataclasses.replace(config, beam_pipeline_args=config.beam_pipeline_args
                                     + local.direct_runner_args(config.data_root,
                                                                args.direct_running_mode))
    local.run_visibly(config, args.log_path, args.working_on)
    return 0
