"""One person's history for a team: a home's SQLite ML Metadata copied into an
empty PostgreSQL store (pipeline.mlmd.copy_store: runs, lineage, blessings and
pushes, ids and times kept), then checked: `runner runs` and `runner lineage`
of every run read the same from both. The artifacts stay where the home put
them: readers that cannot reach them say so, naming the path."""

import dataclasses
from typing import Any, Dict, List

from common.exit_status import ProblemFound
from operations import model_lineage, run_history
from pipeline import mlmd
from pipeline.config import PipelineConfig
from pipeline.store_url import Store


@dataclasses.dataclass(frozen=True)
class Copied:
    """What the copy wrote (rows per ML Metadata table) and how many runs it checked."""

    rows: Dict[str, int]
    runs: int

    @property
    def summary(self) -> str:
        tables = ', '.join(f'{count} {table}' for table, count in self.rows.items() if count)
        runs = f'{self.runs} run' + ('' if self.runs == 1 else 's')
        return f'{tables}; {runs} and their lineage read the same from both'


def _history(config: PipelineConfig) -> List[Any]:
    """What people read of a store: `runs --json` and the lineage of every run."""
    listing = run_history.listing(config)
    return [listing.summaries] + [model_lineage.lineage(config, run_id=entry['run_id'])
                                  for entry in listing.summaries]


def _first_difference(before: List[Any], after: List[Any]) -> str:
    for old, new in zip(before, after, strict=True):
        if old != new:
            return f'{str(old)[:200]} became {str(new)[:200]}'
    return 'the same'


def copy_home(home: str, target: Store) -> Copied:
    """Copies the home's ML Metadata into target (refused, with nothing written,
    when target holds records: mlmd.StoreNotEmpty); ProblemFound if the copy does
    not read as the home does."""
    source = PipelineConfig(home=home)
    mlmd.refuse_non_empty(target)
    before = _history(source)
    rows = mlmd.copy_store(source.store, target)
    after = _history(dataclasses.replace(source, metadata=target))
    if after != before:
        raise ProblemFound(f'ML Metadata store {target} does not read as {source.store} does '
                           f'after the copy: {_first_difference(before, after)}; drop and '
                           'create its database again before another copy')
    return Copied(rows, len(before[0]))
