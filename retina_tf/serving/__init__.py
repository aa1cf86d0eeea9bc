"""Serving: the SavedModel for TF Serving, its gRPC client, and local prediction."""
