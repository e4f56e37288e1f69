"""One module per command of `python -m runner`, each following runner/command.py's
Command protocol; ALL is the order `--help` lists them in."""

from typing import Any, Tuple

from runner.command import Command, command
from runner.commands import (
                             airflow,
                             batch_predict,
                             compare,
                             dataflow,
                             draft_schema,
                             flink,
                             flink_cluster,
                             lineage,
                             local,
                             monitor,
                             report,
                             reproduce,
                             rollback,
                             runs,
                             scale_data,
                             store,
                             vertex,
                             watch,
)

# Each module checked on its own (mypy: run() takes the plan its check() returns).
_CHECKED = (command(local), command(flink), command(dataflow), command(vertex), command(runs),
            command(compare), command(lineage), command(reproduce), command(rollback),
            command(monitor), command(watch), command(batch_predict), command(report),
            command(scale_data), command(draft_schema), command(flink_cluster), command(store),
            command(airflow))
ALL: Tuple[Command[Any], ...] = _CHECKED
