"""Run the pipeline with LocalDagRunner on this machine and every Beam component
(ExampleGen, StatisticsGen, Transform, Evaluator) on Google Cloud Dataflow.
ML Metadata (or --metadata, a store the team shares) and logs stay in --home;
artifacts and pushed models go to the profile's bucket."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import cloud, training_run
from pipeline.config import PipelineConfig
from pipeline.profiles import Profile
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'dataflow'
HELP = 'LocalDagRunner here, Beam components on Dataflow'
EXAMPLES = '''examples:
  TAXI_PROJECT=my-project TAXI_BUCKET=gs://my-bucket python -m runner dataflow
  python -m runner dataflow --profile dataflow --train-steps 2000
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    profile: Profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--profile', default='dataflow', help='in pipeline/profiles.yaml')
    arguments.add_home(parser, 'ML Metadata and logs, on this machine')
    arguments.add_metadata(parser, pipeline_root=False)
    parser.add_argument('--train-steps', type=arguments.positive_int,
                        default=PipelineConfig.train_steps,
                        help=f'training steps (default: {PipelineConfig.train_steps})')


def check(args: argparse.Namespace) -> Plan:
    profile = cloud.named_profile(args.profile)
    metadata = arguments.metadata_store(args, profile)
    home = arguments.home_for_writing(args.home, metadata)
    config = cloud.cloud_config(profile, PipelineConfig(home=home.root, metadata=metadata,
                                                        train_steps=args.train_steps))
    return Plan(config=config, profile=profile, log_home=home.root, lock_home=home.root,
                lock_store=metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    done = training_run.train(plan.config, context.lock, context.progress,
                              image=plan.profile.image)
    print(done.summary)
    return ExitStatus.DONE
