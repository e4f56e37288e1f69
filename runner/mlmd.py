"""Read-only questions to ML Metadata: what ran, what it produced."""

from typing import Dict, List, Optional

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


def latest_run_outputs(store: metadata_store.MetadataStore) -> List[metadata_store_pb2.Artifact]:
    """Artifacts output (or reused from the cache) in the newest pipeline run."""
    runs = store.get_contexts_by_type('pipeline_run')
    if not runs:
        return []
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    executions = [e.id for e in store.get_executions_by_context(run.id)]
    outputs = {e.artifact_id for e in store.get_events_by_execution_ids(executions)
               if e.type == metadata_store_pb2.Event.OUTPUT}
    return store.get_artifacts_by_id(list(outputs))


def push_outcome(store: metadata_store.MetadataStore) -> str:
    """What the newest run did with its model: where it was pushed, or why not."""
    outputs = {a.type: a for a in sorted(latest_run_outputs(store), key=lambda a: a.id)}
    push = outputs.get('PushedModel')
    # 'already_pushed': pipeline.pusher.ALREADY_PUSHED_KEY (not imported: it loads TFX)
    if push is not None and push.custom_properties['already_pushed'].int_value == 1:
        return (f"model unchanged: version {push.custom_properties['pushed_version'].string_value} "
                f"in {push.custom_properties['pushed_destination'].string_value} already serves it")
    if push is not None and push.custom_properties['pushed'].int_value == 1:
        return (f"pushed version {push.custom_properties['pushed_version'].string_value} to "
                f"{push.custom_properties['pushed_destination'].string_value}")
    blessing = outputs.get('ModelBlessing')
    if blessing is not None and blessing.custom_properties['blessed'].int_value != 1:
        return 'nothing pushed: the Evaluator did not bless the model (see its validation result)'
    infra = outputs.get('InfraBlessing')
    if infra is not None and infra.custom_properties['blessed'].int_value != 1:
        reason = infra.custom_properties['reason'].string_value or 'infra validation failed'
        return f'nothing pushed: the model failed its canary: {reason}'
    return 'nothing pushed'
