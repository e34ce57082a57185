"""Run tracking: experiments, runs, metrics, params, tags and artifacts behind an
MLflow-compatible API, so training code that logs with MLflow works against the portal."""
