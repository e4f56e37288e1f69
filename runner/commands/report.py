"""Write a static HTML report of the pipeline home to HOME/report/index.html:
TFDV statistics and anomalies, TFMA metrics per slice with ROC, precision-recall,
calibration and confusion-matrix charts, the monitor's latest findings, and the
lineage of every run. No scripts, nothing fetched: it opens from disk."""

import os

from pipeline.config import PipelineConfig
from runner.commands import arguments

NAME = 'report'
HELP = 'static HTML: data, model, serving, lineage'
EXAMPLES = '''examples:
  python -m runner report                       # tfx_home/report/index.html
  python -m runner report --home /data/taxi_home
'''
WRITES_HOME = True


def add_arguments(parser) -> None:
    arguments.add_home(parser)


def check(args) -> None:
    arguments.home_with_runs(args.home)


def run(args) -> int:
    from runner.report import write_report
    config = PipelineConfig(home=os.path.abspath(args.home))
    print(f'Report: {write_report(config)}')
    return 0
