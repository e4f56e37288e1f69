"""One module per command of `python -m runner`, each following runner/command.py's
Command protocol; ALL is the order `--help` lists them in."""

from typing import Tuple

from runner.command import Command
from runner.commands import (
                             batch_predict,
                             compare,
                             dataflow,
                             draft_schema,
                             lineage,
                             local,
                             monitor,
                             report,
                             reproduce,
                             rollback,
                             runs,
                             scale_data,
                             vertex,
                             watch,
)

ALL: Tuple[Command, ...] = (local, dataflow, vertex, runs, compare, lineage, reproduce, rollback,
                            monitor, watch, batch_predict, report, scale_data, draft_schema)
