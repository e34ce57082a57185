"""Store rows as MLflow's JSON (the proto3 JSON mapping the client parses)."""

import math

from tracking.models import Experiment, LatestMetric, LoggedModel, Param, Run, RunInput, RunTag


def number(value: float, is_nan: bool = False):
    """A metric value in JSON: NaN and ±inf as the strings protobuf's JSON uses."""
    if is_nan or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def pairs(mapping: dict) -> list[dict]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment(exp: Experiment) -> dict:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "last_update_time": exp.last_update_time,
        "creation_time": exp.creation_time,
        "tags": pairs(exp.tags),
    }


def run_info(run: Run) -> dict:
    info = {
        "run_id": run.run_id,
        "run_uuid": run.run_id,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "user_id": run.user_id,
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": run.artifact_uri,
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def metric(row) -> dict:
    return {
        "key": row.key,
        "value": number(row.value, row.is_nan),
        "timestamp": row.timestamp,
        "step": row.step,
    }


def runs(rows: list[Run]) -> list[dict]:
    """Whole runs (info, data, inputs, outputs) with one query per related table."""
    ids = [run.pk for run in rows]
    data = {pk: {"metrics": [], "params": [], "tags": []} for pk in ids}
    inputs = {pk: {"dataset_inputs": [], "model_inputs": []} for pk in ids}
    outputs = {pk: {"model_outputs": []} for pk in ids}
    if ids:
        for row in LatestMetric.objects.filter(run_id__in=ids).order_by("key"):
            data[row.run_id]["metrics"].append(metric(row))
        for model, field in ((Param, "params"), (RunTag, "tags")):
            for run_id, key, value in model.objects.filter(run_id__in=ids).values_list(
                "run_id", "key", "value"
            ):
                data[run_id][field].append({"key": key, "value": value})
        for run_id, kind, payload in RunInput.objects.filter(run_id__in=ids).values_list(
            "run_id", "kind", "payload"
        ):
            if kind == "dataset":
                inputs[run_id]["dataset_inputs"].append(payload)
            elif kind == "model":
                inputs[run_id]["model_inputs"].append(payload)
            else:
                outputs[run_id]["model_outputs"].append(payload)
    return [
        {
            "info": run_info(run),
            "data": data[run.pk],
            "inputs": inputs[run.pk],
            "outputs": outputs[run.pk],
        }
        for run in rows
    ]


def logged_model(model: LoggedModel) -> dict:
    info = {
        "model_id": model.model_id,
        "experiment_id": str(model.experiment_id),
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp_ms,
        "last_updated_timestamp_ms": model.last_updated_timestamp_ms,
        "artifact_uri": model.artifact_location,
        "status": model.status,
        "model_type": model.model_type,
        "tags": pairs(model.tags),
        "lifecycle_stage": model.lifecycle_stage,
    }
    if model.source_run_id:
        info["source_run_id"] = model.source_run.run_id
    if model.status_message:
        info["status_message"] = model.status_message
    return {"info": info, "data": {"params": pairs(model.params), "metrics": []}}
