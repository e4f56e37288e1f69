"""Score a directory of CSV files with the latest blessed model: TFX's
BulkInferrer in a pipeline of its own (its runs share the home's ML Metadata,
so lineage shows which model scored which data). Writes OUTPUT/predictions.csv:
the input columns plus `probability`. With `--profile flink` BulkInferrer and
CsvExampleGen run as jobs on a Flink cluster, as `runner flink` runs them."""

import argparse
import dataclasses
import os

from common.exit_status import ExitStatus, UsageError
from operations import batch_predictions, cloud, on_flink
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'batch-predict'
HELP = 'BulkInferrer with the latest blessed model on CSV files'
EXAMPLES = '''examples:
  python -m runner batch-predict --input /data/new_trips --output /data/scored
  python -m runner batch-predict --home /data/taxi_home --input in/ --output out/
  python -m runner batch-predict --profile flink --input in/ --output out/   # on `make flink`
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig
    input_dir: str
    output_dir: str
    on_flink: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--input', required=True, help='directory of CSV files to score')
    parser.add_argument('--output', required=True, help='directory for predictions.csv')
    arguments.add_home(parser, 'the pipeline home with the model')
    parser.add_argument('--profile', default='local',
                        help='in pipeline/profiles.yaml: local (this machine) or a flink profile')
    parser.add_argument('--flink-master', metavar='HOST:PORT',
                        help="with a flink profile: Flink's REST address over the profile's")
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    if not os.path.isdir(args.input):
        raise UsageError(f'--input {args.input} is not a directory')
    config = arguments.config_with_runs(args, writing=True, pushing=True)
    profile = cloud.named_profile(args.profile)
    use_flink = profile.runner != 'local' or args.flink_master is not None
    if use_flink:
        cluster = on_flink.cluster(profile, args.flink_master)
        on_flink.check_reachable(cluster)
        config = on_flink.flink_config(config, cluster)
    return Plan(config=config, input_dir=os.path.abspath(args.input),
                output_dir=os.path.abspath(args.output), on_flink=use_flink,
                log_home=config.home, lock_home=config.home, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    print(f'Batch inference, home {plan.config.home}\nFull logs: {context.log_path}', flush=True)
    predict = on_flink.predict if plan.on_flink else batch_predictions.predict
    path = predict(plan.config, plan.input_dir, plan.output_dir, context.lock, context.progress)
    print(f'Predictions: {path}')
    return ExitStatus.DONE
