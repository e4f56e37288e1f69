"""The run records read from ML Metadata after a real pipeline run."""

import os
import subprocess
import sys

import pytest

from pipeline import mlmd
from pipeline.store_url import Store
from tests.support import TRAINING_COMPONENTS

pytestmark = pytest.mark.e2e


def test_a_run_is_recorded_with_every_stage(pipeline_home):
    home, record = pipeline_home[0], pipeline_home[3]
    assert record.pipeline == 'chicago-taxi' and record.state == 'complete'
    assert set(record.components) == set(TRAINING_COMPONENTS)
    starts = [c.start for c in record.components.values()]
    assert starts == sorted(starts)                       # in the order they ran
    assert record.start <= min(c.start for c in record.components.values())
    assert record.end >= max(c.end for c in record.components.values())
    stages = {'examples': 'Examples', 'manifest': 'taxi.RunManifest',
              'statistics': 'ExampleStatistics', 'schema': 'Schema',
              'anomalies': 'ExampleAnomalies', 'transform_graph': 'TransformGraph',
              'model': 'Model', 'model_run': 'ModelRun', 'evaluation': 'ModelEvaluation',
              'blessing': 'ModelBlessing', 'infra_blessing': 'InfraBlessing',
              'pushed_model': 'PushedModel'}
    for stage, type_name in stages.items():
        artifact = getattr(record, stage)
        assert artifact.type == type_name and os.path.isdir(artifact.uri), stage
    assert record.span == 0 and 'num_files:1' in record.input_fingerprint
    assert record.blessed and record.infra_blessed and record.pushed
    assert record.pushed_version == os.listdir(os.path.join(home, 'serving_model',
                                                            'chicago_taxi'))[0]
    assert record.blessing.get(mlmd.CURRENT_MODEL_ID) == record.model.id


def test_runs_are_found_by_id_or_unique_prefix(pipeline_home):
    record = pipeline_home[3]
    runs = [record]
    assert mlmd.find_run(runs, record.run_id) is record
    assert mlmd.find_run(runs, record.run_id[:13]) is record
    with pytest.raises(LookupError, match="no run 'nope'"):
        mlmd.find_run(runs, 'nope')
    twin = mlmd.RunRecord(record.run_id + '9', record.pipeline, record.start, record.end, {})
    with pytest.raises(LookupError, match='names 2 runs'):
        mlmd.find_run([record, twin], record.run_id[:13])


def test_listing_runs_loads_neither_tensorflow_nor_tfx(pipeline_home):
    code = ('import sys; from pipeline import mlmd; from pipeline.store_url import Store; '
            f'path = {os.path.join(pipeline_home[0], "metadata.db")!r}; '
            'store = mlmd.connect(Store.sqlite(path)); '
            'runs = mlmd.load_runs(store, "chicago-taxi"); '
            'assert len(runs) == 1; '
            'loaded = {m.split(".")[0] for m in sys.modules}; '
            'print(sorted(loaded & {"tensorflow", "tfx", "keras"}))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '[]\n'


def test_a_missing_store_says_how_to_make_one(tmp_path):
    with pytest.raises(mlmd.NoMetadataError, match='run `python -m runner local --home'):
        mlmd.connect(Store.sqlite(str(tmp_path / 'metadata.db')))
