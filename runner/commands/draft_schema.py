"""Regenerate a draft schema: TFX's SchemaGen on the latest StatisticsGen output
under --home. The curated schema/schema.pbtxt started as such a draft; diff a
new draft against it when the data changes, and carry over what still holds."""

import argparse
import dataclasses
import os

from common.exit_status import ExitStatus, UsageError
from operations import schema_inference
from pipeline.store_url import Store
from runner import arguments
from runner.command import Context
from runner.command import Plan as BasePlan

NAME = 'draft-schema'
HELP = 'SchemaGen on the latest statistics under --home'
EXAMPLES = '''examples:
  python -m runner draft-schema --home tfx_home --output schema/schema.draft.pbtxt
  diff schema/schema.pbtxt schema/schema.draft.pbtxt
'''


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan(BasePlan):
    store: Store
    output: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arguments.add_home(parser)
    arguments.add_metadata(parser)
    parser.add_argument('--output', default='schema/schema.draft.pbtxt',
                        help='where to write the draft (default: schema/schema.draft.pbtxt)')


def check(args: argparse.Namespace) -> Plan:
    metadata = arguments.metadata_store(args)
    home = arguments.home_with_runs(args.home, metadata=metadata)
    if os.path.isdir(args.output):
        raise UsageError(f'--output {args.output} is a directory; name a file')
    return Plan(store=metadata or Store.sqlite(home.metadata_path), output=args.output)


def run(plan: Plan, context: Context) -> ExitStatus:
    path = schema_inference.draft_schema(plan.store, plan.output)
    print(f'Draft schema written to {path}; compare it with schema/schema.pbtxt.')
    return ExitStatus.DONE
