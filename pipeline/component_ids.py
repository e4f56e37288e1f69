"""Pipeline names and the node ids of every DAG, in one place and free of TFX.

The DAG modules give each node its id from here (`.with_id(...)`), and
pipeline/mlmd.py reads runs back by the same names, so that renaming a node is
one edit here, and a test checks every DAG against these lists.
"""

# Pipelines sharing a home's ML Metadata.
TRAINING_PIPELINE = 'chicago-taxi'        # Kubeflow/Vertex allow [a-z0-9-] only
BATCH_SUFFIX = '-batch'                   # <training pipeline>-batch: batch inference
ROLLBACK_SUFFIX = '-rollback'             # <training pipeline>-rollback: rollbacks

# The training pipeline (pipeline/training_pipeline.py).
EXAMPLE_GEN = 'CsvExampleGen'
RUN_MANIFEST = 'RunManifest'
STATISTICS_GEN = 'StatisticsGen'
SCHEMA_GEN = 'ImportSchemaGen'
EXAMPLE_VALIDATOR = 'ExampleValidator'
VALIDATION_GATE = 'ExampleValidationGate'
TRANSFORM = 'Transform'
TUNER = 'Tuner'
HYPERPARAMETERS_RESOLVER = 'latest_hyperparameters_resolver'
TRAINER = 'Trainer'
BLESSED_MODEL_RESOLVER = 'latest_blessed_model_resolver'
EVALUATOR = 'Evaluator'
SERVING_CANARY = 'ServingCanary'
INFRA_VALIDATOR = 'InfraValidator'
PUSHER = 'Pusher'
VERTEX_ENDPOINT_PUSHER = 'VertexEndpointPusher'

# Batch inference (pipeline/batch_pipeline.py); its ExampleGen is EXAMPLE_GEN.
BLESSED_MODEL_IMPORTER = 'blessed_model'
BULK_INFERRER = 'BulkInferrer'

# Rollback (pipeline/rollback_pipeline.py); its Pusher is PUSHER.
ROLLBACK_MODEL_IMPORTER = 'rollback_model'
ROLLBACK_BLESSING_IMPORTER = 'rollback_blessing'

# A run is complete once one of these ran.
FINAL_NODES = (PUSHER, BULK_INFERRER)
# Nodes that run every time, cached or not: they decide nothing about a cached run.
ALWAYS_RUN = (BLESSED_MODEL_RESOLVER, HYPERPARAMETERS_RESOLVER, BLESSED_MODEL_IMPORTER)
