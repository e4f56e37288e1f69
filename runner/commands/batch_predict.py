"""Score a directory of CSV files with the latest blessed model: TFX's
BulkInferrer in a pipeline of its own (its runs share the home's ML Metadata,
so lineage shows which model scored which data). Writes OUTPUT/predictions.csv:
the input columns plus `probability`."""

import os

from pipeline.config import PipelineConfig
from runner.commands import arguments
from runner.errors import UsageError

NAME = 'batch-predict'
HELP = 'BulkInferrer with the latest blessed model on CSV files'
EXAMPLES = '''examples:
  python -m runner batch-predict --input /data/new_trips --output /data/scored
  python -m runner batch-predict --home /data/taxi_home --input in/ --output out/
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    parser.add_argument('--input', required=True, help='directory of CSV files to score')
    parser.add_argument('--output', required=True, help='directory for predictions.csv')
    arguments.add_home(parser, 'the pipeline home with the model')


def home_to_lock(args) -> str:
    return args.home


def check(args) -> None:
    if not os.path.isdir(args.input):
        raise UsageError(f'--input {args.input} is not a directory')
    arguments.home_with_runs(args.home)


def run(args) -> int:
    from runner.batch import run_batch
    config = PipelineConfig(home=os.path.abspath(args.home))
    print(f'Batch inference, home {config.home}\nFull logs: {args.log_path}', flush=True)
    path = run_batch(config, os.path.abspath(args.input), os.path.abspath(args.output),
                     args.working_on)
    print(f'Predictions: {path}')
    return 0
