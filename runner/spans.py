"""Data that arrives in spans: DATA_ROOT/span-<N>/*.csv, N growing.

The pipeline trains on the latest span (or a rolling window of spans, via
CsvExampleGen's {SPAN} pattern and RangeConfig); a new span directory is what
`python -m runner watch` waits for before starting a run.
"""

import glob
import os
import re
from typing import List, Optional

from pipeline import mlmd

_SPAN_DIR = re.compile(r'span-(\d+)')


def spans_in(data_root: str) -> List[int]:
    """Span numbers of data_root's span-<N> directories that hold CSV files."""
    found = []
    for path in glob.glob(os.path.join(data_root, 'span-*')):
        match = _SPAN_DIR.fullmatch(os.path.basename(path))
        if match and glob.glob(os.path.join(path, '*.csv')):
            found.append(int(match.group(1)))
    return sorted(found)


def latest_trained_span(metadata_path: str, pipeline_name: str) -> Optional[int]:
    """The span of the newest examples this pipeline's CsvExampleGen produced."""
    if not os.path.exists(metadata_path):
        return None
    examples = [r.examples for r in mlmd.load_runs(mlmd.connect(metadata_path), pipeline_name)
                if r.examples is not None]
    return max(examples, key=lambda a: a.id).get(mlmd.SPAN) if examples else None


def new_span(data_root: str, metadata_path: str, pipeline_name: str) -> Optional[int]:
    """The newest span on disk if no run has trained on it yet, else None."""
    spans = spans_in(data_root)
    if not spans:
        return None
    trained = latest_trained_span(metadata_path, pipeline_name)
    return spans[-1] if trained is None or spans[-1] > trained else None
