"""A model server speaking TF Serving's gRPC and REST APIs, its client, and deployment configs."""
