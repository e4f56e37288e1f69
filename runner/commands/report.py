"""Write a static HTML report of the pipeline home to HOME/report/index.html:
TFDV statistics and anomalies, TFMA metrics per slice with ROC, precision-recall,
calibration and confusion-matrix charts, the monitor's latest findings, and the
lineage of every run. No scripts, nothing fetched: it opens from disk."""

import argparse
import dataclasses

from common.exit_status import ExitStatus
from operations import html_report
from pipeline.config import PipelineConfig
from runner import arguments, store_lock
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'report'
HELP = 'static HTML: data, model, serving, lineage'
EXAMPLES = '''examples:
  python -m runner report                       # tfx_home/report/index.html
  python -m runner report --home /data/taxi_home
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    config: PipelineConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser)
    arguments.add_metadata(parser)


def check(args: argparse.Namespace) -> Plan:
    config = arguments.config_with_runs(args, writing=True)
    return Plan(config=config, log_home=config.home)


def run(plan: Plan, context: Context) -> ExitStatus:
    activity = store_lock.activity(plan.config.home, plan.config.metadata)
    print(f'Report: {html_report.write_report(plan.config, activity)}')
    return ExitStatus.DONE
