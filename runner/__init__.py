"""Runners (local, Dataflow, Vertex/Kubeflow) and the command line."""
