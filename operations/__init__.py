"""The operations a person runs on a pipeline home, between the command line (runner/)
and the pipeline definitions (pipeline/): one module per capability. Each
function does the work and returns what happened; none prints (progress goes
through operations.execution.Progress), so the same functions serve the CLI,
benchmarks and tests.

  training_run       the training pipeline from this machine: prepare, run, outcome
  execution          LocalDagRunner under a chosen run id; which component failed
  spans, inputs      span-<N>/ data and windows of spans; what is wrong with a CSV
  cloud              Dataflow and Vertex AI: profiles to configs, compile, submit
  run_history        runs as people read them: states, versions, tables
  comparison         two runs side by side
  model_lineage      from a version or run to its data, code and evaluation
  reproduction       a recorded run again in a fresh home, model compared
  version_rollback   an earlier blessed model served again
  monitoring         served traffic and server health, judged and reported:
    traffic            request logs read back
    drift              skew and drift with the schema's comparators
    health             Prometheus metrics: error rate, latency
  html_report        the static HTML report (templates/report.html)
  batch_predictions  BulkInferrer on CSV files, to predictions.csv
  schema_inference   a draft schema from SchemaGen
  store_server       a PostgreSQL server on this machine for ML Metadata
  store_copy         a home's ML Metadata copied into a team's store, checked
  on_airflow         the pipeline's DAGs' tasks: a run prepared, a node of it run, new
                     spans, monitoring's findings as a training run's configuration
  local_airflow      Apache Airflow on this machine: its virtualenv, configuration,
                     scheduler and webserver
  data_scaling       the taxi data grown N-fold
"""
