"""The MLflow-compatible tracking API."""
