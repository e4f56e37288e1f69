"""One module per command of `python -m runner`. Each has NAME, HELP, EXAMPLES,
WRITES_HOME (its log goes to HOME/logs, else to a temporary directory),
add_arguments(parser), check(args) (validates without writing anything; raises
UsageError) and run(args) -> exit code; those that run a pipeline on a home also
home_to_lock(args), the home they hold for the run (runner/home_lock.py)."""

from runner.commands import (batch_predict, compare, dataflow, draft_schema, lineage, local,
                             monitor, report, reproduce, rollback, runs, scale_data, vertex,
                             watch)

ALL = (local, dataflow, vertex, runs, compare, lineage, reproduce, rollback, monitor, watch,
       batch_predict, report, scale_data, draft_schema)
