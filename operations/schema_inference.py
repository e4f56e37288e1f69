"""Regenerates a draft schema: TFX's SchemaGen run on the latest StatisticsGen output.

The curated schema/schema.pbtxt started as such a draft; diff a new draft
against it when the data changes, and carry over what still holds.
"""

import os
import shutil
import tempfile

from common.exit_status import UsageError
from operations import run_history
from pipeline import mlmd
from pipeline.store_url import Store


def draft_schema(store: Store, output: str) -> str:
    """Writes SchemaGen's inferred schema for the newest statistics to `output`."""
    from tfx.components.schema_gen.executor import Executor
    from tfx.types import standard_artifacts

    statistics = mlmd.latest_artifact(mlmd.connect(store), 'ExampleStatistics')
    if statistics is None:
        raise UsageError(f'no StatisticsGen output recorded in {store}')
    statistics_artifact = standard_artifacts.ExampleStatistics()
    statistics_artifact.uri = run_history.stored(statistics)
    statistics_artifact.split_names = statistics.get('split_names')

    with tempfile.TemporaryDirectory() as schema_dir:
        schema = standard_artifacts.Schema()
        schema.uri = schema_dir
        Executor().Do({'statistics': [statistics_artifact]}, {'schema': [schema]},
                      {'infer_feature_shape': False, 'exclude_splits': '["eval"]'})
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        shutil.copyfile(os.path.join(schema_dir, 'schema.pbtxt'), output)
    return output
