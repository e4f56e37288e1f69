"""List the pipeline runs of a home, newest first: when, how long, how it ended
(complete, cached, failed at COMPONENT, running, abandoned at COMPONENT when its
process was killed, a rollback), its data (span and content
fingerprint), its code (commit, `*` for uncommitted changes), hyperparameters
that differ from the defaults, eval AUC, blessing, and the version it pushed,
marked where it serves now. Reads ML Metadata only; fast."""

import json
import os

from pipeline.config import PipelineConfig
from runner import history, home_lock
from runner.commands import arguments

NAME = 'runs'
HELP = 'the runs of a home with their data, code, metrics and pushes'
EXAMPLES = '''examples:
  python -m runner runs
  python -m runner runs --home /data/taxi_home --limit 10
  python -m runner runs --json | jq '.[0].auc'
'''
WRITES_HOME = False
HEADER = ['RUN', 'START', 'TOOK', 'STATE', 'DATA', 'CODE', 'HPARAMS', 'AUC', 'BLESSED',
          'PUSHED']


def add_arguments(parser) -> None:
    arguments.add_home(parser)
    parser.add_argument('--limit', type=arguments.positive_int, help='the newest N runs only')
    parser.add_argument('--json', action='store_true',
                        help='a JSON list, newest first, one object per run')


def check(args) -> None:
    arguments.home_with_runs(args.home)


def _table(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip()
                     for r in rows)


def run(args) -> int:
    config = PipelineConfig(home=os.path.abspath(args.home))
    everything = history.load(config)
    runs = everything[:args.limit]
    serving, active = history.serving_now(config), home_lock.active_run(config.home)
    if args.json:
        print(json.dumps([history.summary(r, everything, serving, active) for r in runs],
                         indent=2))
    elif runs:
        print(_table([HEADER] + [history.row(r, serving, active) for r in runs]))
    else:
        print(f'No runs in {config.metadata_path}')
    return 0
