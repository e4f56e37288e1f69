"""The taxi pipeline's DAGs, for Apache Airflow (`make airflow` points Airflow's
dags_folder here): the training pipeline, a new span of data, and serving
monitoring. Their definitions are pipeline/airflow_dags.py; their tasks,
runner/airflow_tasks.py; their settings, AIRFLOW_HOME/taxi-pipeline.json
(written by `python -m runner airflow start`)."""

import common.bootstrap  # noqa: F401  (first: the environment before TensorFlow loads)

# isort: split

from runner import airflow_tasks

globals().update(airflow_tasks.dags())
