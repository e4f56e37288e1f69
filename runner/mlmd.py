"""Read-only questions to ML Metadata: what ran, what it produced."""

from typing import Dict, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2


def connect(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def latest_run_states(store: metadata_store.MetadataStore) -> Dict[str, str]:
    """Node id -> execution state (COMPLETE, CACHED, FAILED...) in the newest pipeline run."""
    runs = store.get_contexts_by_type('pipeline_run')
    if not runs:
        return {}
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    states = {}
    for execution in store.get_executions_by_context(run.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == 'node':
                node_id = context.name.split('.', 1)[1]
                states[node_id] = metadata_store_pb2.Execution.State.Name(
                    execution.last_known_state)
    return states


def latest_artifact(store: metadata_store.MetadataStore,
                    type_name: str) -> Optional[metadata_store_pb2.Artifact]:
    """The newest live artifact of a type, e.g. 'ExampleStatistics'."""
    artifacts = [a for a in store.get_artifacts_by_type(type_name)
                 if a.state == metadata_store_pb2.Artifact.LIVE]
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def pushed_run_artifact(store: metadata_store.MetadataStore,
                        type_name: str) -> Optional[metadata_store_pb2.Artifact]:
    """The newest artifact of a type (e.g. 'ExampleStatistics') output in the pipeline
    run that last pushed a model: what the model in service was built from."""
    pushes = [a for a in store.get_artifacts_by_type('PushedModel')
              if a.custom_properties['pushed'].int_value == 1]
    if not pushes:
        return None
    push = max(pushes, key=lambda a: a.id)
    [pusher] = [e.execution_id for e in store.get_events_by_artifact_ids([push.id])
                if e.type == metadata_store_pb2.Event.OUTPUT]
    [run] = [c for c in store.get_contexts_by_execution(pusher) if c.type == 'pipeline_run']
    executions = [e.id for e in store.get_executions_by_context(run.id)]
    outputs = {e.artifact_id for e in store.get_events_by_execution_ids(executions)
               if e.type == metadata_store_pb2.Event.OUTPUT}
    candidates = [a for a in store.get_artifacts_by_id(list(outputs)) if a.type == type_name]
    return max(candidates, key=lambda a: a.id) if candidates else None
