"""Regenerate a draft schema: TFX's SchemaGen on the latest StatisticsGen output
under --home. The curated schema/schema.pbtxt started as such a draft; diff a
new draft against it when the data changes, and carry over what still holds."""

import os

from runner.commands import arguments
from runner.errors import UsageError

NAME = 'draft-schema'
HELP = 'SchemaGen on the latest statistics under --home'
EXAMPLES = '''examples:
  python -m runner draft-schema --home tfx_home --output schema/schema.draft.pbtxt
  diff schema/schema.pbtxt schema/schema.draft.pbtxt
'''
WRITES_HOME = False


def add_arguments(parser) -> None:
    arguments.add_home(parser)
    parser.add_argument('--output', default='schema/schema.draft.pbtxt',
                        help='where to write the draft (default: schema/schema.draft.pbtxt)')


def check(args) -> None:
    arguments.home_with_runs(args.home)
    if os.path.isdir(args.output):
        raise UsageError(f'--output {args.output} is a directory; name a file')


def run(args) -> int:
    from runner.schema_draft import draft_schema
    home = arguments.home_with_runs(args.home)
    path = draft_schema(home.metadata_path, args.output)
    print(f'Draft schema written to {path}; compare it with schema/schema.pbtxt.')
    return 0
