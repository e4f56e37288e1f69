"""Score a directory of CSV files with the latest blessed model: TFX's
BulkInferrer in a pipeline of its own (its runs share the home's ML Metadata,
so lineage shows which model scored which data). Writes OUTPUT/predictions.csv:
the input columns plus `probability`."""

import argparse
import dataclasses
import os

from common.exit_status import ExitStatus, UsageError
from operations import batch_predictions
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'batch-predict'
HELP = 'BulkInferrer with the latest blessed model on CSV files'
EXAMPLES = '''examples:
  python -m runner batch-predict --input /data/new_trips --output /data/scored
  python -m runner batch-predict --home /data/taxi_home --input in/ --output out/
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    input_dir: str
    output_dir: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--input', required=True, help='directory of CSV files to score')
    parser.add_argument('--output', required=True, help='directory for predictions.csv')
    arguments.add_home(parser, 'the pipeline home with the model')
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    if not os.path.isdir(args.input):
        raise UsageError(f'--input {args.input} is not a directory')
    config = arguments.config_with_runs(args, writing=True, pushing=True)
    return Plan(config=config, input_dir=os.path.abspath(args.input),
                output_dir=os.path.abspath(args.output), log_home=config.home,
                lock_home=config.home, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    print(f'Batch inference, home {plan.config.home}\nFull logs: {context.log_path}', flush=True)
    path = batch_predictions.predict(plan.config, plan.input_dir, plan.output_dir,
                                     context.lock, context.progress)
    print(f'Predictions: {path}')
    return ExitStatus.DONE
