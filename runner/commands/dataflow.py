"""Run the pipeline with LocalDagRunner on this machine and every Beam component
(ExampleGen, StatisticsGen, Transform, Evaluator) on Google Cloud Dataflow.
ML Metadata and logs stay in --home; artifacts and pushed models go to the
profile's bucket."""

import os

from pipeline.config import PipelineConfig
from runner import cloud, local
from runner.commands import arguments

NAME = 'dataflow'
HELP = 'LocalDagRunner here, Beam components on Dataflow'
EXAMPLES = '''examples:
  TAXI_PROJECT=my-project TAXI_BUCKET=gs://my-bucket python -m runner dataflow
  python -m runner dataflow --profile dataflow --train-steps 2000
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    parser.add_argument('--profile', default='dataflow', help='in pipeline/profiles.yaml')
    arguments.add_home(parser, 'ML Metadata and logs, on this machine')
    parser.add_argument('--train-steps', type=arguments.positive_int,
                        default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')


def home_to_lock(args) -> str:
    return args.home


def check(args) -> None:
    arguments.home_for_writing(args.home)
    args.loaded_profile = cloud.named_profile(args.profile)


def run(args) -> int:
    base = PipelineConfig(home=os.path.abspath(args.home), train_steps=args.train_steps)
    local.run_visibly(cloud.cloud_config(args.loaded_profile, base), args.log_path,
                      args.working_on)
    return 0
