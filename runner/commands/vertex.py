"""Compile the pipeline for Vertex AI Pipelines (a Kubeflow Pipelines v2
PipelineSpec, which Kubeflow Pipelines 2.x also runs) and, with --submit, submit
it. Every component runs in the profile's image, Beam components on Dataflow,
the Trainer as a Vertex AI training job."""

import argparse
import dataclasses
import os
from typing import Any

from common.exit_status import ExitStatus
from operations import cloud
from pipeline.config import PipelineConfig
from pipeline.profiles import Profile
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'vertex'
HELP = 'compile for Vertex AI Pipelines (and submit with --submit)'
EXAMPLES = '''examples:
  export TAXI_PROJECT=my-project TAXI_BUCKET=gs://my-bucket \\
         TAXI_IMAGE=us-central1-docker.pkg.dev/my-project/taxi/pipeline:1
  python -m runner vertex --output pipeline.json             # compile only
  python -m runner vertex --output pipeline.json --submit    # compile and submit
  python -m runner vertex --tune --tune-trials 40 --submit    # with the cloud Tuner
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    profile: Profile
    train_steps: int
    tune_trials: int
    output: str
    credentials: Any = None       # Google Cloud credentials, to submit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--profile', default='vertex', help='in pipeline/profiles.yaml')
    parser.add_argument('--output', default='pipeline.json',
                        help='PipelineJob JSON to write (default: pipeline.json)')
    parser.add_argument('--train-steps', type=arguments.positive_int,
                        default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')
    arguments.add_tuning(parser, "compile the cloud Tuner before the Trainer (trials in "
                                 "parallel: the profile's tune_parallel_trials)")
    parser.add_argument('--submit', action='store_true',
                        help='submit the compiled pipeline to Vertex AI Pipelines '
                             '(needs Google Cloud credentials)')


def check(args: argparse.Namespace) -> Plan:
    trials = arguments.tune_trials(args.tune, args.tune_trials)
    return Plan(profile=cloud.named_profile(args.profile), train_steps=args.train_steps,
                tune_trials=trials, output=os.path.abspath(args.output),
                credentials=cloud.google_credentials() if args.submit else None)


def run(plan: Plan, context: Context) -> ExitStatus:
    # In run(): the Vertex extensions load TFX and the Google Cloud libraries, whose
    # notices go to the log.
    config = cloud.cloud_config(plan.profile, PipelineConfig(train_steps=plan.train_steps,
                                                             tune_trials=plan.tune_trials))
    path = cloud.compile_vertex(config, plan.profile, plan.output)
    print(f'Pipeline written to {path}')
    if plan.credentials is not None:
        job = cloud.submit_vertex(path, config, plan.profile, plan.credentials)
        print(f'Submitted: {job}')
    return ExitStatus.DONE
