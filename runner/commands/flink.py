"""Run the whole pipeline with LocalDagRunner on this machine and every Beam
component (CsvExampleGen, StatisticsGen, Transform, Evaluator) on an Apache Flink
cluster, each as a Flink job named after it, through Beam's job server. ML
Metadata, logs and artifacts stay in --home, which the cluster's workers must
reach (they do on this machine); the workers install this project from the
package each job stages. `make flink` starts a cluster here."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import cloud, on_flink, training_run
from pipeline.config import PipelineConfig
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'flink'
HELP = 'LocalDagRunner here, Beam components on a Flink cluster'
EXAMPLES = '''examples:
  make flink && python -m runner flink
  python -m runner flink --flink-master 127.0.0.1:18081 --train-steps 2000
  TAXI_FLINK_MASTER=flink.example.internal:8081 TAXI_JOB_SERVER=flink.example.internal:8099 \\
    python -m runner flink --data-root /shared/taxi --home /shared/taxi_home
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
    parser.add_argument('--profile', default='flink',
                        help='in pipeline/profiles.yaml: the cluster (default flink)')
    parser.add_argument('--flink-master', metavar='HOST:PORT',
                        help="Flink's REST address (default: the profile's, 127.0.0.1:8081)")


def check(args: argparse.Namespace) -> Plan:
    profile = cloud.named_profile(args.profile)
    cluster = on_flink.cluster(profile, args.flink_master)
    settings = arguments.store_settings(args, writing=True, profile=profile)
    home = arguments.home_for_writing(args.home, settings['metadata'])
    data_root = arguments.data_root(args.data_root)
    on_flink.check_reachable(cluster)
    config = training_run.local_config(home.root, data_root, args.spans,
                                       train_steps=args.train_steps, min_auc=args.min_auc,
                                       **settings)
    return Plan(config=on_flink.flink_config(config, cluster), log_home=home.root,
                lock_home=home.root, lock_store=config.metadata)


def run(plan: Plan, context: Context) -> ExitStatus:
    done = on_flink.train(plan.config, context.lock, context.progress)
    print(done.summary)
    return ExitStatus.DONE
