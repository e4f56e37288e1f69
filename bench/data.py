"""The taxi data at N times its size, shared by the benchmarks so that they measure on the
same rows (resampled and jittered by operations.data_scaling, seed 0)."""

import glob
import os
import shutil
from typing import List

from operations.data_scaling import write_scaled
from pipeline.config import DEFAULT_DATA_ROOT


def csv_files(directory: str) -> List[str]:
    """The CSV files of a data directory: the embedded one holds a README too."""
    return sorted(glob.glob(os.path.join(directory, '*.csv')))


def data_for(factor: int, workdir: str) -> str:
    """The directory of the factor's CSV files: the embedded data at 1x; beyond, written
    under workdir once and reused by later runs with the same workdir, as 100x is slow to
    write."""
    if factor == 1:
        return DEFAULT_DATA_ROOT
    directory = os.path.join(workdir, f'data_{factor}x')
    if not os.path.isdir(directory):
        partial = directory + '.partial'      # an interrupted write is never taken as whole
        shutil.rmtree(partial, ignore_errors=True)
        write_scaled(os.path.join(DEFAULT_DATA_ROOT, 'data.csv'), factor, partial)
        os.rename(partial, directory)
    return directory
