"""Run the whole pipeline with TFX's LocalDagRunner on this machine: ingest,
statistics, schema, validation, Transform, Trainer, Evaluator, canary and push.
One line per component; TensorFlow's and Beam's logs go to HOME/logs."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import execution, training_run
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'local'
HELP = 'run the pipeline with LocalDagRunner on this machine'
EXAMPLES = '''examples:
  python -m runner local
  python -m runner local --home /data/taxi_home --data-root /data/taxi --train-steps 2000
  python -m runner local --data-root /data/spans --spans 3      # latest 3 span-<N>/ directories
  python -m runner local --tune --tune-trials 20                # search, then train with the best
  python -m runner local --metadata postgresql://ml@db:5432/mlmd --pipeline-root /shared/taxi
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser)
    arguments.add_metadata(parser)
    arguments.add_data_root(parser)
    arguments.add_training(parser)
    arguments.add_spans(parser)
    parser.add_argument('--direct-running-mode', default='auto',
                        choices=('auto',) + execution.DIRECT_RUNNING_MODES,
                        help='Beam DirectRunner mode (default auto: in this process up to 64 MB '
                             'of input, else one worker process per core)')
    parser.add_argument('--deterministic', action=argparse.BooleanOptionalAction, default=True,
                        help='bit-exact training and transform (default); --no-deterministic '
                             'only to measure what it costs')
    arguments.add_tuning(parser, 'run the Tuner (KerasTuner, Bayesian optimisation) before the '
                                 'Trainer; without it, the Trainer takes the best hyperparameters '
                                 'of the latest Tuner run on this home, else the defaults')
    parser.add_argument('--infra-validator', choices=('docker', 'kubernetes'),
                        help="TFX's InfraValidator with the tensorflow/serving image on Docker or "
                             "Kubernetes, in place of this project's serving canary")


def check(args: argparse.Namespace) -> Plan:
    settings = arguments.store_settings(args, writing=True)
    home = arguments.home_for_writing(args.home, settings['metadata'])
    data_root = arguments.data_root(args.data_root)
    config = training_run.local_config(
        home.root, data_root, args.spans, train_steps=args.train_steps, min_auc=args.min_auc,
        infra_validator=args.infra_validator, deterministic=args.deterministic,
        tune_trials=arguments.tune_trials(args.tune, args.tune_trials), **settings)
    if args.direct_running_mode != 'auto':
        config = dataclasses.replace(config, beam_pipeline_args=config.beam_pipeline_args
                                     + execution.direct_runner_args(data_root,
                                                                    args.direct_running_mode))
    return Plan(config=config, log_home=home.root, lock_home=home.root,
                lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    done = training_run.train(plan.config, context.lock, context.progress)
    print(done.summary)
    return ExitStatus.DONE
