"""Render a normalised command job spec (see jobs.spec) into Kubernetes objects.

Everything here is a pure function of its arguments: the same input renders byte-identical
objects, names included, so a retried submission produces the same manifests.

Layout inside the main container:

* ``/code``: the uploaded code folder (working directory), fetched by init container
  ``fetch-code`` from the portal with a bearer token kept in a Secret.
* ``/inputs/<name>``: uri inputs. URL inputs are downloaded by init container ``fetch-inputs``
  into an emptyDir (the file keeps the URL's last path segment as its name); ``mode: direct``
  passes the URL itself to the command instead. PVC inputs are mounted read-only
  (``download`` mounts too: the data is already on the cluster).
* ``/outputs/<name>``: outputs, on the named PVC or on the portal's output claim under
  ``jobs/<job_id>/<name>``. For ``uri_file`` outputs the command receives a file path inside it.
* ``/dev/shm``: a memory-backed emptyDir of ``resources.shm_size``.

Distributed jobs (``instance_count`` > 1) are Indexed Jobs with a headless Service named like
the Job, so pod ``i`` is reachable at ``<job>-<i>.<job>`` (fully: ``<job>-<i>.<job>.<namespace>
.svc``). TF_CONFIG differs per pod but an env value cannot be computed, so the container's shell
command starts with a prefix that builds it from ``JOB_COMPLETION_INDEX`` (set by Kubernetes in
Indexed Jobs) and ``KP_TF_CLUSTER``; the MPI prefix writes the hostfile from the host list.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.urls import reverse

from compute.admission import Admission
from compute.kube.labels import DISPLAY_NAME, EXPERIMENT, JOB_ID, OUTPUTS_CLAIM, job_labels
from jobs.models import Job, object_name
from jobs.outputs_upload import TRACKING_KEY, add_tracking
from jobs.spec import scalar_text, substitute_command
from tracking import services as tracking_services

FETCH_IMAGE = "curlimages/curl:8.11.1"
INDEX_FIELD_PATH = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
PORTS = {"pytorch": ("rendezvous", 29500), "tensorflow": ("grpc", 2222), "mpi": ("ssh", 22)}
MPI_HOSTFILE = "/tmp/hostfile"
# Init containers only move bytes; small fixed resources keep them inside namespace quotas.
_INIT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}
_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]")


def code_secret_name(job_id: int) -> str:
    """Returns the name of the Secret holding the code download token."""
    return f"{object_name(job_id)}-code"


def _url_file_name(url: str) -> str:
    name = _SAFE_FILE.sub("_", posixpath.basename(unquote(urlsplit(url).path)))
    return name if name.strip(".") else "data"


def input_value(name: str, entry: dict) -> str:
    """Returns what ``${{inputs.<name>}}`` becomes in the container: the literal's text, the URL
    for ``direct`` URL inputs, otherwise the in-container path (a file path for uri_file)."""
    if entry["kind"] == "literal":
        return scalar_text(entry["value"])
    if entry["source"] == "url":
        if entry["mode"] == "direct":
            return entry["url"]
        if entry["type"] == "uri_file":
            return f"/inputs/{name}/{_url_file_name(entry['url'])}"
        return f"/inputs/{name}"
    if entry["type"] == "uri_file":
        return f"/inputs/{name}/{posixpath.basename(entry['sub_path'])}"
    return f"/inputs/{name}"


def output_value(name: str, entry: dict) -> str:
    """Returns what ``${{outputs.<name>}}`` becomes: the folder, or for uri_file a file in it."""
    if entry["type"] != "uri_file":
        return f"/outputs/{name}"
    if entry["source"] == "pvc":
        return f"/outputs/{name}/{posixpath.basename(entry['sub_path'])}"
    return f"/outputs/{name}/{name}"


def _env(name: str, value: str) -> dict:
    return {"name": name, "value": value}


def _index_env(name: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": INDEX_FIELD_PATH}}}


def _host(job: str, index: int, count: int) -> str:
    # A single pod has no Service; it reaches itself on localhost.
    return f"{job}-{index}.{job}" if count > 1 else "localhost"


def _framework(dist: dict | None, job: str, count: int) -> tuple[list[dict], list[str]]:
    """Returns (env, shell prefix lines) for the distribution framework."""
    if dist is None:
        return [], []
    rank = _index_env if count > 1 else lambda n: _env(n, "0")
    kind = dist["type"]
    port = PORTS[kind][1]
    if kind == "pytorch":
        per = dist["process_count_per_instance"]
        master = _host(job, 0, count)
        env = [
            _env("MASTER_ADDR", master),
            _env("MASTER_PORT", str(port)),
            _env("WORLD_SIZE", str(count * per)),
            rank("NODE_RANK"),
            _env("NPROC_PER_NODE", str(per)),
            # torchrun reads its options from PET_-prefixed variables.
            _env("PET_NNODES", str(count)),
            _env("PET_NPROC_PER_NODE", str(per)),
            rank("PET_NODE_RANK"),
            _env("PET_MASTER_ADDR", master),
            _env("PET_MASTER_PORT", str(port)),
        ]
        return env, []
    if kind == "tensorflow":
        workers = dist["worker_count"]
        cluster: dict[str, list[str]] = {
            "worker": [f"{_host(job, i, count)}:{port}" for i in range(workers)]
        }
        if dist["parameter_server_count"]:
            cluster["ps"] = [f"{_host(job, i, count)}:{port}" for i in range(workers, count)]
        prefix = [
            'KP_INDEX="${JOB_COMPLETION_INDEX:-0}"',
            f'if [ "$KP_INDEX" -lt {workers} ]; then KP_TF_TASK=worker; '
            'KP_TF_TASK_INDEX="$KP_INDEX"; '
            f"else KP_TF_TASK=ps; KP_TF_TASK_INDEX=$((KP_INDEX - {workers})); fi",
            'export TF_CONFIG="$(printf \'{"cluster": %s, "task": {"type": "%s", '
            '"index": %s}}\' "$KP_TF_CLUSTER" "$KP_TF_TASK" "$KP_TF_TASK_INDEX")"',
        ]
        return [_env("KP_TF_CLUSTER", json.dumps(cluster))], prefix
    slots = dist["process_count_per_instance"]
    hosts = [_host(job, i, count) for i in range(count)]
    env = [
        _env("KP_MPI_HOSTS", ",".join(f"{host}:{slots}" for host in hosts)),
        _env("KP_MPI_HOSTFILE", MPI_HOSTFILE),
        _env("OMPI_MCA_orte_default_hostfile", MPI_HOSTFILE),
        _env("KP_WORLD_SIZE", str(count * slots)),
    ]
    # One "host slots=N" line per instance, the OpenMPI hostfile format.
    pairs = " ".join(f"{host} {slots}" for host in hosts)
    return env, [f"printf '%s slots=%s\\n' {pairs} > \"$KP_MPI_HOSTFILE\""]


def _priority_class(priority_class: str | Mapping[str, str] | None, priority: str) -> str | None:
    if priority_class is None or isinstance(priority_class, str):
        return priority_class
    return priority_class.get(priority)


def job_code_url(job_id: int) -> str:
    """Where the job's pods fetch its code from (with the job-scoped token)."""
    return settings.PUBLIC_URL + reverse("api:job-code", args=[job_id])


def render_for(
    job: Job, *, code_token: str | None, tracking_token: str | None = None
) -> list[dict]:
    """The objects of ``job`` as stored: its spec, image and what it was admitted with (the
    one rendering the start task and the IT-ops preview share). ``code_token`` and
    ``tracking_token``: the job-scoped tokens for its code and its run, or placeholders for
    display."""
    code = None
    if job.spec["code"] is not None:
        code = {"url": job_code_url(job.pk), "token": code_token or ""}
    tracking_env = None
    if job.run_id is not None:
        run = job.run
        tracking_env = {
            "uri": tracking_services.tracking_uri(job.workspace.slug),
            "run_id": run.run_id,
            "experiment": job.experiment_name,
            "artifacts_url": tracking_services.artifacts_url(run),
            "token": tracking_token or "",
        }
    return render_job(
        spec=job.spec,
        job_id=job.pk,
        workspace=job.workspace.slug,
        target=job.compute.name,
        namespace=job.compute.namespace,
        instance_type=Admission.from_dict(job.admission).instance_type_manifest(),
        image=job.image,
        priority_class=settings.JOB_PRIORITY_CLASSES,
        code=code,
        tracking=tracking_env,
    )


def render_job(
    *,
    spec: dict,
    job_id: int,
    workspace: str,
    target: str,
    namespace: str,
    instance_type: dict,
    image: str,
    priority_class: str | Mapping[str, str] | None = None,
    code: dict | None = None,
    tracking: dict | None = None,
    output_claim: str = OUTPUTS_CLAIM,
) -> list[dict]:
    """Returns the objects to create, in order: [Secret (only when ``code`` or ``tracking``
    is given), Service (only when instance_count > 1), Job].

    ``spec`` is a normalised spec from ``jobs.spec.validate_job_spec``; ``image`` the resolved
    container image; ``instance_type`` {"name", "nodeSelector", "resources", optional
    "tolerations"} (what the job was admitted with). ``tracking`` is {"uri", "run_id",
    "experiment", "artifacts_url", "token"} of the job's MLflow run: the container gets the
    MLFLOW_* variables (the token from the Secret) and, when its command ends, uploads its
    ``outputs/`` folder and its ``upload`` outputs to the run's artifacts. ``priority_class`` is the
    priorityClassName itself, or a mapping from the spec's priority (low/medium/high) to one;
    None or an unmapped priority sets no class. ``code`` is {"url", "token", optional
    "secret_name"} for the uploaded code archive. Raises ValueError when the spec has code but
    ``code`` is missing.
    """
    if spec["code"] is not None and code is None:
        raise ValueError("the spec has code; upload it and pass code={'url', 'token'}")
    name = object_name(job_id)
    count = spec["resources"]["instance_count"]
    labels = job_labels(job_id, workspace, target, instance_type["name"])
    annotations = {
        DISPLAY_NAME: spec["display_name"] or spec["name"] or name,
        EXPERIMENT: spec["experiment_name"],
    }

    def metadata(obj_name: str) -> dict:
        return {
            "name": obj_name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations),
        }

    pod = _Pod(spec, job_id)
    objects: list[dict] = []
    secret_name = (code or {}).get("secret_name") or code_secret_name(job_id)
    if code is not None or tracking is not None:
        data = {"token": code["token"]} if code is not None else {}
        if tracking is not None:
            data[TRACKING_KEY] = tracking["token"]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata(secret_name),
                "type": "Opaque",
                "stringData": data,
            }
        )
    if code is not None:
        pod.add_code(code["url"], secret_name)
    pod.add_data(output_claim)
    main = _main_container(spec, job_id, workspace, image, instance_type, pod.mounts)
    if tracking is not None:
        add_tracking(main, spec, tracking, secret_name)
    if code is not None:
        main["workingDir"] = "/code"
    pod_spec = _pod_spec(spec, name, instance_type, priority_class, pod, main)
    if count > 1:
        objects.append(_service(name, metadata(name), labels, spec["distribution"]))
    job_spec: dict[str, Any] = {
        # Training jobs are not retried by Kubernetes: the portal reports the failure.
        "backoffLimit": 0,
    }
    if count > 1:
        job_spec |= {"completionMode": "Indexed", "completions": count, "parallelism": count}
    if spec["limits"]["timeout"]:
        job_spec["activeDeadlineSeconds"] = spec["limits"]["timeout"]
    job_spec["template"] = {
        "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
        "spec": pod_spec,
    }
    objects.append(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(name), "spec": job_spec}
    )
    return objects


class _Pod:
    """The volumes, main container mounts and init containers of a job's pod, as they are
    added."""

    def __init__(self, spec: dict, job_id: int) -> None:
        self.spec, self.job_id = spec, job_id
        self.volumes: list[dict] = [
            {
                "name": "shm",
                "emptyDir": {"medium": "Memory", "sizeLimit": spec["resources"]["shm_size"]},
            }
        ]
        self.mounts: list[dict] = [{"name": "shm", "mountPath": "/dev/shm"}]
        self.init_containers: list[dict] = []

    def add_code(self, url: str, secret_name: str) -> None:
        self.volumes.append({"name": "code", "emptyDir": {}})
        self.mounts.append({"name": "code", "mountPath": "/code"})
        self.init_containers.append(_fetch_code(url, secret_name))

    def add_data(self, output_claim: str) -> None:
        """Inputs (mounted claims, or downloads by ``fetch-inputs``) and outputs."""
        claims = _claim_volumes(self.spec, output_claim)
        self.volumes.extend(
            {"name": vol, "persistentVolumeClaim": {"claimName": claim}}
            for claim, vol in claims.items()
        )
        downloads: list[tuple[str, str]] = []  # (file path, url) for fetch-inputs
        download_mounts: list[dict] = []
        for index, (input_name, entry) in enumerate(self.spec["inputs"].items()):
            if entry["kind"] != "uri":
                continue
            if entry["source"] == "pvc":
                mount = {
                    "name": claims[entry["claim"]],
                    "mountPath": input_value(input_name, entry),
                    "readOnly": True,
                }
                if entry["sub_path"]:
                    mount["subPath"] = entry["sub_path"]
                self.mounts.append(mount)
            elif entry["mode"] != "direct":
                volume, folder = f"input-{index}", f"/inputs/{input_name}"
                self.volumes.append({"name": volume, "emptyDir": {}})
                download_mounts.append({"name": volume, "mountPath": folder})
                # ro_mount promises read-only data; download gives the command its own copy.
                self.mounts.append(
                    {"name": volume, "mountPath": folder, "readOnly": entry["mode"] == "ro_mount"}
                )
                downloads.append((f"{folder}/{_url_file_name(entry['url'])}", entry["url"]))
        if downloads:
            self.init_containers.append(_fetch_inputs(downloads, download_mounts))
        self.mounts.extend(_output_mounts(self.spec, self.job_id, claims, output_claim))


def _output_mounts(spec: dict, job_id: int, claims: dict, output_claim: str) -> list[dict]:
    mounts = []
    for output_name, entry in spec["outputs"].items():
        if entry["source"] == "pvc":
            claim, sub_path = entry["claim"], entry["sub_path"] or ""
        else:
            claim, sub_path = output_claim, f"jobs/{job_id}/{output_name}"
        if entry["type"] == "uri_file" and entry["source"] == "pvc":
            # A subPath that does not exist yet becomes a directory; mount the file's folder.
            sub_path = posixpath.dirname(sub_path)
        mount = {"name": claims[claim], "mountPath": f"/outputs/{output_name}"}
        if sub_path:
            mount["subPath"] = sub_path
        mounts.append(mount)
    return mounts


def _main_container(
    spec: dict, job_id: int, workspace: str, image: str, instance_type: dict, mounts: list[dict]
) -> dict[str, Any]:
    count = spec["resources"]["instance_count"]
    framework_env, prefix = _framework(spec["distribution"], object_name(job_id), count)
    env = [
        _env("KP_JOB_ID", str(job_id)),
        _env("KP_WORKSPACE", workspace),
        _env("KP_NUM_NODES", str(count)),
        _index_env("KP_NODE_RANK") if count > 1 else _env("KP_NODE_RANK", "0"),
    ]
    input_values = {key: input_value(key, entry) for key, entry in spec["inputs"].items()}
    output_values = {key: output_value(key, entry) for key, entry in spec["outputs"].items()}
    env += [_env(f"KP_INPUT_{key.upper()}", value) for key, value in input_values.items()]
    env += [_env(f"KP_OUTPUT_{key.upper()}", value) for key, value in output_values.items()]
    # Portal variables come first so user values may refer to them as $(KP_JOB_ID).
    env += framework_env
    env += [_env(key, value) for key, value in spec["environment_variables"].items()]
    command = substitute_command(spec["command"], inputs=input_values, outputs=output_values)
    return {
        "name": "main",
        "image": image,
        "command": ["/bin/sh", "-c", "\n".join([*prefix, command])],
        "env": env,
        "resources": copy.deepcopy(instance_type.get("resources") or {}),
        "volumeMounts": mounts,
    }


def _pod_spec(
    spec: dict,
    name: str,
    instance_type: dict,
    priority_class: str | Mapping[str, str] | None,
    pod: _Pod,
    main: dict,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"restartPolicy": "Never"}
    if spec["resources"]["instance_count"] > 1:
        pod_spec["subdomain"] = name
    if instance_type.get("nodeSelector"):
        pod_spec["nodeSelector"] = dict(instance_type["nodeSelector"])
    if instance_type.get("tolerations"):
        pod_spec["tolerations"] = copy.deepcopy(instance_type["tolerations"])
    class_name = _priority_class(priority_class, spec["queue_settings"]["priority"])
    if class_name:
        pod_spec["priorityClassName"] = class_name
    # Service links would add variables for every Service in the namespace to the environment.
    pod_spec["enableServiceLinks"] = False
    if pod.init_containers:
        pod_spec["initContainers"] = pod.init_containers
    pod_spec["containers"] = [main]
    pod_spec["volumes"] = pod.volumes
    return pod_spec


def _claim_volumes(spec: dict, output_claim: str) -> dict[str, str]:
    """Returns claim name → volume name; one volume per claim, mounted as often as needed."""
    claims = {
        entry["claim"]
        for entry in spec["inputs"].values()
        if entry["kind"] == "uri" and entry["source"] == "pvc"
    }
    claims |= {entry["claim"] for entry in spec["outputs"].values() if entry["source"] == "pvc"}
    if any(entry["source"] == "job" for entry in spec["outputs"].values()):
        claims.add(output_claim)
    return {claim: f"pvc-{index}" for index, claim in enumerate(sorted(claims))}


def _fetch_code(url: str, secret_name: str) -> dict:
    script = "\n".join(
        [
            "set -eu",
            'curl -fsSL --retry 3 -H "Authorization: Bearer $CODE_TOKEN" -o /tmp/code.tar "$CODE_URL"',
            # The CLI uploads .tar.gz, but a plain .tar is accepted by the portal as well.
            "if gzip -t /tmp/code.tar 2>/dev/null; then tar -xzf /tmp/code.tar -C /code; "
            "else tar -xf /tmp/code.tar -C /code; fi",
            "rm -f /tmp/code.tar",
        ]
    )
    return {
        "name": "fetch-code",
        "image": FETCH_IMAGE,
        "command": ["/bin/sh", "-c", script],
        "env": [
            {"name": "CODE_URL", "value": url},
            {
                "name": "CODE_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "token"}},
            },
        ],
        "resources": copy.deepcopy(_INIT_RESOURCES),
        "volumeMounts": [{"name": "code", "mountPath": "/code"}],
    }


def _fetch_inputs(downloads: list[tuple[str, str]], mounts: list[dict]) -> dict:
    lines = ["set -eu"]
    for path, url in downloads:
        lines.append(f"curl -fsSL --retry 3 -o {shlex.quote(path)} {shlex.quote(url)}")
    return {
        "name": "fetch-inputs",
        "image": FETCH_IMAGE,
        "command": ["/bin/sh", "-c", "\n".join(lines)],
        "resources": copy.deepcopy(_INIT_RESOURCES),
        "volumeMounts": mounts,
    }


def _service(name: str, metadata: dict, labels: dict, dist: dict | None) -> dict:
    spec: dict[str, Any] = {
        "clusterIP": "None",
        "selector": {JOB_ID: labels[JOB_ID]},
        # Pods must find each other while starting up, before any readiness is known.
        "publishNotReadyAddresses": True,
    }
    if dist is not None:
        port_name, port = PORTS[dist["type"]]
        spec["ports"] = [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
