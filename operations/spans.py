"""Data that arrives in spans: DATA_ROOT/span-<N>/*.csv, N growing.

The pipeline trains on the latest span, through CsvExampleGen's {SPAN}
pattern and a RollingRange of one span (what TFX's ExampleGen takes). For a
window of the latest N spans, the runner stages them as one:
HOME/inputs/spans-<first>-<last>/span-<last>/ holds a link to every CSV file of
those spans, so ExampleGen reads them all as span <last> (its span, hence what
`runner watch` and the warm start see, is the newest). A new span directory is
what `python -m runner watch` waits for before starting a run.
"""

import glob
import os
import re
import shutil
from typing import List, Optional

from pipeline import mlmd
from pipeline.store_url import Store

_SPAN_DIR = re.compile(r'span-(\d+)')


def spans_in(data_root: str) -> List[int]:
    """Span numbers of data_root's span-<N> directories that hold CSV files."""
    found = []
    for path in glob.glob(os.path.join(data_root, 'span-*')):
        match = _SPAN_DIR.fullmatch(os.path.basename(path))
        if match and glob.glob(os.path.join(path, '*.csv')):
            found.append(int(match.group(1)))
    return sorted(found)


def latest_trained_span(store: Store, pipeline_name: str) -> Optional[int]:
    """The span of the newest examples this pipeline's CsvExampleGen produced."""
    if mlmd.store_condition(store)[0] != mlmd.READY:
        return None
    examples = [r.examples for r in mlmd.load_runs(mlmd.connect(store), pipeline_name)
                if r.examples is not None]
    return max(examples, key=lambda a: a.id).get(mlmd.SPAN) if examples else None


def new_span(data_root: str, store: Store, pipeline_name: str) -> Optional[int]:
    """The newest span on disk if no run has trained on it yet, else None."""
    spans = spans_in(data_root)
    if not spans:
        return None
    trained = latest_trained_span(store, pipeline_name)
    return spans[-1] if trained is None or spans[-1] > trained else None


def stage_window(data_root: str, count: int, inputs_dir: str) -> str:
    """Stages the latest `count` spans of data_root as one span under inputs_dir;
    returns the input base for ExampleGen (its span-<last>/ holds the links)."""
    window = spans_in(data_root)[-count:]
    if not window:
        raise FileNotFoundError(f'no span-<N>/ directory with CSV files in {data_root}')
    base = os.path.join(inputs_dir, f'spans-{window[0]}-{window[-1]}')
    staging = base + '.new'
    shutil.rmtree(staging, ignore_errors=True)
    target = os.path.join(staging, f'span-{window[-1]}')
    os.makedirs(target)
    for span in window:
        for path in sorted(glob.glob(os.path.join(data_root, f'span-{span}', '*.csv'))):
            os.symlink(os.path.abspath(path),
                       os.path.join(target, f'span-{span}-{os.path.basename(path)}'))
    shutil.rmtree(base, ignore_errors=True)
    os.rename(staging, base)
    return base
