# The pipeline image: every component on Vertex AI Pipelines / Kubeflow, the
# Trainer's Vertex AI training job, and Dataflow's Beam workers
# (--sdk_container_image). Build from the repository root:
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/taxi-pipeline:TAG .
FROM apache/beam_python3.10_sdk:2.59.0 AS beam

FROM tensorflow/tfx:1.16.0
WORKDIR /pipeline

# The exact versions of requirements.lock, over what the base image brings.
COPY requirements.lock .
RUN python -m pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache -r requirements.lock

# This project's packages, as setup.py declares them (no data: it is read from GCS).
COPY setup.py README.md ./
COPY common/ common/
COPY models/ models/
COPY pipeline/ pipeline/
COPY operations/ operations/
COPY runner/ runner/
COPY serving/ serving/
COPY schema/ schema/
RUN uv pip install --system --no-cache --no-deps .

# Dataflow starts workers through Beam's boot program; Vertex AI and Kubeflow
# give each component its own command, so this entrypoint serves both.
COPY --from=beam /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
