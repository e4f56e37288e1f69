"""Measuring a run: wall time, RSS of its process tree over time, seconds and peak RSS per
TFX component (from the run's log of components starting and finishing)."""

import re
import shutil
import subprocess
import threading
import time
from datetime import datetime
from typing import Dict, List, NamedTuple, Optional

import psutil

# LocalDagRunner logs "Component X is running/finished", BeamDagRunner "node X ...".
_EVENT = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?(?:Component|node) (\S+) is '
                    r'(running|finished)\.')
SAMPLE_EVERY = 0.1  # seconds between RSS samples


class Sample(NamedTuple):
    """RSS at one moment of the process started (the runner) and of its descendants (Beam
    workers), apart: a peak of the tree can then be told to come from one or the other."""
    at: float
    runner: int
    workers: int
    processes: int  # descendants alive

    @property
    def tree(self) -> int:
        return self.runner + self.workers


class Measured(NamedTuple):
    """A finished run: its wall seconds and the RSS samples taken while it ran."""
    seconds: float
    samples: List[Sample]

    @property
    def peak_rss(self) -> int:
        return max((sample.tree for sample in self.samples), default=0)


class Span(NamedTuple):
    """One component's run, by the log's clock (local time, as time.time() compares)."""
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Peak(NamedTuple):
    """Maxima over one component's samples, each on its own: tree is not runner + workers."""
    tree: int
    runner: int
    workers: int
    processes: int


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:  # a worker that ended since it was listed
        return 0


def _sample(root: psutil.Process) -> Sample:
    children = root.children(recursive=True)
    return Sample(time.time(), _rss(root), sum(_rss(child) for child in children),
                  len(children))


def _sample_until_done(process: psutil.Popen, samples: List[Sample]) -> None:
    """Appends a sample every SAMPLE_EVERY seconds while process runs."""
    while process.poll() is None:
        try:
            samples.append(_sample(process))
        except psutil.NoSuchProcess:
            return
        time.sleep(SAMPLE_EVERY)


def fresh(directory: str) -> str:
    """directory, emptied: a home left by an earlier run would be measured from its cache."""
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def run_measured(command: List[str], env: Dict[str, str], log_path: str,
                 cwd: Optional[str] = None) -> Measured:
    """Runs command to completion, its output appended to log_path; raises if it fails, as
    figures of a failed run would mislead."""
    started = time.time()
    with open(log_path, 'a') as log:
        process = psutil.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    samples: List[Sample] = []
    sampler = threading.Thread(target=_sample_until_done, args=(process, samples), daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.time() - started
    sampler.join()
    if code != 0:
        raise RuntimeError(f'{command[:3]} exited with {code}; see {log_path}')
    return Measured(seconds, samples)


def component_spans(log_path: str) -> List[Span]:
    """Components' runs from 'Component/node X is running/finished' log lines, by start."""
    started, spans = {}, []
    with open(log_path, errors='replace') as log:
        for line in log:
            match = _EVENT.match(line)
            if not match:
                continue
            at = datetime.strptime(match.group(1), '%Y-%m-%d %H:%M:%S,%f').timestamp()
            if match.group(3) == 'running':
                started[match.group(2)] = at
            elif match.group(2) in started:
                spans.append(Span(match.group(2), started.pop(match.group(2)), at))
    return sorted(spans, key=lambda span: span.start)


def component_seconds(log_path: str) -> Dict[str, float]:
    """Seconds per component, in the order they started."""
    return {span.name: span.seconds for span in component_spans(log_path)}


def component_peaks(spans: List[Span], samples: List[Sample]) -> Dict[str, Peak]:
    """Peak RSS per component over the samples taken while it ran; a component shorter than
    the sampling period may have none, and is left out rather than guessed."""
    peaks = {}
    for span in spans:
        inside = [sample for sample in samples if span.start <= sample.at <= span.end]
        if inside:
            peaks[span.name] = Peak(max(s.tree for s in inside), max(s.runner for s in inside),
                                    max(s.workers for s in inside),
                                    max(s.processes for s in inside))
    return peaks
