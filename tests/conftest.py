"""Shared fixtures: real taxi rows, a real TFT analyze-and-transform over them, a
model trained on it, and real pipeline runs (helpers: tests/support.py)."""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

import os

import pytest

from tests.support import (
    PIPELINE_SAMPLE_ROWS,
    load_schema,
    postgres_server,
    read_rows,
    run_pipeline,
    runs,
    service_stubs,
    to_instance,
    write_csv,
)


@pytest.fixture(scope='session', autouse=True)
def no_team_store_from_the_environment():
    """Tests name the stores they use: a developer's TAXI_METADATA_URL and
    TAXI_PIPELINE_ROOT (the team's store) reach none of the commands they run."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ('TAXI_METADATA_URL', 'TAXI_PIPELINE_ROOT'):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope='session')
def schema():
    return load_schema()


@pytest.fixture(scope='session')
def raw_instances(schema):
    return [to_instance(row, schema) for row in read_rows(1200)]


@pytest.fixture(scope='session')
def tft_result(raw_instances, schema, tmp_path_factory):
    """(transform_fn dir, transformed instances) from TFT on Beam, as Transform does it."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    from models.preprocessing import preprocessing_fn

    output_dir = str(tmp_path_factory.mktemp('transform_graph'))
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp('tft_tmp')),
                          force_tf_compat_v1=True):
        (transformed, _), transform_fn = (
            (raw_instances, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    # The raw schema beside the graph, as the Transform component leaves it.
    metadata_io.write_metadata(
        metadata, os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return output_dir, transformed


@pytest.fixture(scope='session')
def exported_model(tft_result, tmp_path_factory):
    """(SavedModel dir, Keras model) trained briefly on the TFT output and exported
    by the Trainer's own export(): all signatures, the TFT graph, warmup requests."""
    import numpy as np
    import tensorflow_transform as tft

    from models import features as f
    from models import model as model_lib
    from models import trainer

    transform_dir, transformed = tft_result
    output = tft.TFTransformOutput(transform_dir)
    sizes = {k: output.vocabulary_size_by_name(k) for k in f.VOCABULARY_FEATURES}
    model = model_lib.build_model(model_lib.categorical_features(sizes), hidden_units=[32, 16],
                                  embedding_dim=4, dropout=0.0, learning_rate=0.01)
    x = {name: np.array([row[name] for row in transformed]) for name in model.input_names}
    y = np.array([row[f.LABEL_XF] for row in transformed], dtype=np.float32)
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    export_dir = str(tmp_path_factory.mktemp('export') / 'model')
    trainer.export(model, output, export_dir)
    return export_dir, model, x


@pytest.fixture(scope='session')
def pipeline_sample(tmp_path_factory):
    """A data root with the pipeline tests' rows (PIPELINE_SAMPLE_ROWS). Read only."""
    return write_csv(read_rows(PIPELINE_SAMPLE_ROWS), str(tmp_path_factory.mktemp('sample')))


@pytest.fixture(scope='session')
def pipeline_home(pipeline_sample, tmp_path_factory):
    """(home, sample data root, first run's output, its run record) of one real pipeline
    run shared by tests. Nothing may change this home: a test that runs the pipeline
    again works on a copy (copy_home)."""
    home, sample = str(tmp_path_factory.mktemp('tfx_home')), pipeline_sample
    result = run_pipeline(home, sample)
    assert result.returncode == 0, result.stdout + result.stderr
    [record] = runs(home)
    return home, sample, result, record


@pytest.fixture(scope='session')
def rerun_home(pipeline_home, tmp_path_factory):
    """(home, first run, second run): two runs on the shared sample in a fresh home of
    its own (a copied home would miss the cache: the staged schema's path moves).
    Nothing may change it."""
    home = str(tmp_path_factory.mktemp('rerun_home'))
    first = run_pipeline(home, pipeline_home[1])
    assert first.returncode == 0, first.stdout + first.stderr
    return home, first, run_pipeline(home, pipeline_home[1])


@pytest.fixture(scope='session', name='postgres_server')
def shared_postgres_server():
    """A PostgreSQL 15 server for the test process's shared ML Metadata stores (each
    test module makes databases of its own on it: tests.support.new_database);
    tests that stop or restart a server start their own."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope='module')
def stubs(server):
    """(PredictionService, ModelService, Health) stubs on the test module's `server`."""
    channel = server.channel()
    yield service_stubs(channel)
    channel.close()


@pytest.fixture(autouse=True)
def no_stop_left_behind():
    """A test that asks for a stop (common.interruption) leaves none to the next."""
    yield
    from common import interruption
    interruption.reset()
