"""Parse and validate command job specs written in the shape of Azure ML CLI v2 command jobs.

``parse_job_yaml`` turns YAML text into a mapping; ``validate_job_spec`` checks it and returns
the *normalised spec*, a JSON-serialisable dict in which every field is present and defaulted::

    {
        "type": "command",
        "name": str | None,               # DNS label, e.g. "train-resnet"
        "display_name": str | None,       # defaults to name
        "experiment_name": str,           # default "Default"
        "description": str | None,
        "tags": {str: str},
        "command": str,                   # still holds ${{inputs.x}} / ${{outputs.y}}
        "code": None
            | {"kind": "local", "path": str, "sha256": None}
            | {"kind": "uploaded", "path": None, "sha256": str},   # from "portal:code/<sha256>"
        "environment": {"image": str | None,
                        "registered": None | {"name": str, "version": str | None, "latest": bool}},
                        # exactly one of image / registered is set
        "environment_variables": {str: str},
        "inputs": {name: {"kind": "literal", "value": str | int | float | bool}
                       | {"kind": "uri", "type": "uri_file" | "uri_folder",
                          "mode": "ro_mount" | "download" | "direct", "path": str,
                          "source": "url" | "pvc", "url": str | None,
                          "claim": str | None, "sub_path": str | None}},
        "outputs": {name: {"type": "uri_file" | "uri_folder", "mode": "rw_mount" | "upload",
                           "path": str | None, "source": "pvc" | "job",
                           "claim": str | None, "sub_path": str | None}},
        "compute": str,                   # target name without the "azureml:" prefix
        "resources": {"instance_type": str | None, "instance_count": int, "shm_size": str},
        "distribution": None
            | {"type": "pytorch", "process_count_per_instance": int}
            | {"type": "mpi", "process_count_per_instance": int}
            | {"type": "tensorflow", "worker_count": int, "parameter_server_count": int},
        "limits": {"timeout": int | None},                 # seconds
        "queue_settings": {"priority": "low" | "medium" | "high"},
    }

Input and output dicts are ordered by name. ``shm_size`` is a Kubernetes binary quantity
("2Gi", "512Mi"). Problems are collected, not raised one at a time: ``SpecError.errors`` lists
every one, each with the dotted field path and, when the YAML text is known, line and column.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from assets.references import CODE_REF
from compute import quantity
from jobs.spec.base import (
    IDENTIFIER,
    Checker,
    Document,
    SpecError,
    apply_overrides,
    load_mapping,
    show,
)
from jobs.spec.io import EXPRESSION, REFERENCE, check_command, inputs_of, outputs_of

MAX_INSTANCE_COUNT = 64
MAX_PROCESSES_PER_INSTANCE = 128

DNS_LABEL_RULE = (
    "use 1 to 63 lowercase letters, digits and dashes, starting with a letter and ending with a "
    "letter or digit"
)
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_DOCKER_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", re.IGNORECASE)

TOP_FIELDS = (
    "$schema", "type", "name", "display_name", "experiment_name", "description", "tags",
    "command", "code", "environment", "environment_variables", "inputs", "outputs", "compute",
    "resources", "distribution", "limits", "queue_settings",
)  # fmt: skip
_SWEEP_ADVICE = (
    "sweep jobs are not supported: submit one command job per trial, "
    "e.g. with `kp job create -f job.yml --set inputs.lr=0.01`"
)
TOP_UNSUPPORTED = {
    "identity": (
        "`identity` is not supported: the portal runs jobs with the compute target's service "
        "account; grant access to data through the namespace (PVCs, secrets)"
    ),
    "services": (
        "`services` is not supported: interactive services (JupyterLab, SSH, TensorBoard, VS Code) "
        "are not offered; use `kubectl port-forward` to a running pod if your cluster allows it"
    ),
    "properties": (
        "`properties` is not supported: it is Azure job metadata; put key/value labels in `tags`"
    ),
    "parameters": "`parameters` is a read-only field of Azure ML job output; remove it",
}
REFUSED_TYPES = {
    "sweep": _SWEEP_ADVICE,
    "pipeline": (
        "pipeline jobs are not supported: submit each step as its own command job and pass data "
        "between them through pvc:// outputs and inputs"
    ),
    "parallel": (
        "parallel jobs are not supported: use a command job with resources.instance_count > 1; "
        "each pod can read its index from the JOB_COMPLETION_INDEX environment variable"
    ),
    "spark": "Spark jobs are not supported: run Spark yourself on the cluster (e.g. an operator)",
}
RESOURCE_FIELDS = ("instance_type", "instance_count", "shm_size")
RESOURCE_UNSUPPORTED = {
    "properties": (
        "`resources.properties` is not supported: resource properties are Azure-specific; "
        "ask IT operations for an instance type with the resources you need"
    ),
    "docker_args": (
        "`resources.docker_args` is not supported: jobs run on Kubernetes, not Docker; use "
        "resources.shm_size and environment_variables, or ask for a suitable instance type"
    ),
    "locations": (
        "`resources.locations` is not supported: jobs run on the compute target's cluster, "
        "there is no location to choose"
    ),
}
DISTRIBUTION_FIELDS = {
    "pytorch": ("type", "process_count_per_instance"),
    "mpi": ("type", "process_count_per_instance"),
    "tensorflow": ("type", "worker_count", "parameter_server_count"),
}
# Variables the portal sets in the container; a user value would silently break the wiring.
FRAMEWORK_ENV = {
    "pytorch": (
        "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "NPROC_PER_NODE",
        "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT",
    ),
    "tensorflow": ("TF_CONFIG",),
    "mpi": ("OMPI_MCA_orte_default_hostfile",),
}  # fmt: skip
PRIORITIES = ("low", "medium", "high")


def load_job(text: str) -> Document:
    """Returns the job file ``text`` parsed once (data and positions).

    Raises SpecError when the text is not YAML (one FieldError with line and column), when it
    holds duplicate keys, more than one document, or a document that is not a mapping.
    """
    return load_mapping(text, "job file", " (command, environment, compute, ...)")


def parse_job_yaml(text: str) -> dict:
    """Returns the YAML document in ``text`` as a dict (``load_job`` without the positions)."""
    return load_job(text).data


def format_binary_quantity(size: int) -> str:
    """Returns ``size`` bytes exactly as a Kubernetes quantity in the largest whole binary unit."""
    for unit, power in (("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if size % (1 << power) == 0:
            return f"{size >> power}{unit}"
    return str(size)


def parse_shm_size(text: str) -> int:
    """Returns the size in bytes of a docker-style ("2g", "512m", "1024k", "2gb") or Kubernetes
    ("2Gi", "512Mi") size; docker units are binary, as Docker reads them. Raises ValueError."""
    text = text.strip()
    match = _DOCKER_SIZE.match(text)
    if match:
        power = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40}[match[2].lower()]
        size = Decimal(match[1]) * (1 << power)
    else:
        try:
            size = quantity.parse(text)
        except quantity.QuantityError:
            raise ValueError(text) from None
    if size != size.to_integral_value():
        raise ValueError(text)
    return int(size)


def references(command: str) -> list[tuple[str, str]]:
    """Returns the (inputs|outputs, name) pairs referenced as ``${{...}}`` in ``command``."""
    found = []
    for match in EXPRESSION.finditer(command):
        ref = REFERENCE.match(match[1])
        if ref:
            found.append((ref[1], ref[2]))
    return found


def substitute_command(command: str, *, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    """Returns ``command`` with ``${{inputs.x}}`` replaced by ``inputs["x"]`` and
    ``${{outputs.y}}`` by ``outputs["y"]``, verbatim (no shell quoting, as Azure ML does).

    Raises ValueError naming a reference that has no value or an unsupported expression.
    """

    def replace(match: re.Match[str]) -> str:
        ref = REFERENCE.match(match[1])
        if not ref:
            raise ValueError(f"unsupported expression {match[0]} in command")
        values = inputs if ref[1] == "inputs" else outputs
        if ref[2] not in values:
            raise ValueError(f"command refers to {match[0]}, which has no value")
        return values[ref[2]]

    return EXPRESSION.sub(replace, command)


def validate_job_spec(
    raw: dict | Document,
    *,
    source: str | None = None,
    overrides: dict[str, str] | None = None,
) -> dict:
    """Returns the normalised spec (shape in the module docstring) for the command job ``raw``.

    ``overrides`` ("a.b" → text) are applied first; their values are read as numbers, booleans
    or null when they look like one, otherwise kept as text. Raises SpecError listing every
    problem found. Given a ``Document`` (``load_job``), or the YAML ``source`` of a dict, each
    problem carries line and column; positions are worked out only when there is a problem.
    """
    if isinstance(raw, Document):
        document, raw = raw, raw.data
        marks = lambda: document.marks  # noqa: E731
    else:
        marks = (lambda: _marks_of_source(source)) if source is not None else {}
    check = Checker(marks, overrides or {})
    if not isinstance(raw, dict):
        check.error("", f"a job spec must be a mapping of fields, got {show(raw)}")
        raise SpecError(check.errors)
    data = apply_overrides(raw, overrides or {}, check)

    job_type = data.get("type", "command")
    if job_type != "command":
        if isinstance(job_type, str) and job_type in REFUSED_TYPES:
            check.error("type", REFUSED_TYPES[job_type])
        else:
            check.error("type", f"type must be `command` (the only job type the portal runs), "
                                f"got {show(job_type)}")  # fmt: skip
        # The other fields of a sweep or pipeline job mean something else; checking them
        # against the command job schema would only add noise.
        raise SpecError(check.errors)

    check.keys(data, "", TOP_FIELDS, TOP_UNSUPPORTED)
    spec: dict[str, Any] = {"type": "command"}
    spec["name"] = _name(data.get("name"), check)
    display_name = check.text(data.get("display_name"), "display_name")
    spec["display_name"] = display_name if display_name else spec["name"]
    spec["experiment_name"] = _experiment(data.get("experiment_name"), check)
    spec["description"] = check.text(data.get("description"), "description")
    spec["tags"] = check.string_map(data.get("tags"), "tags", key_rule=None)
    command = check.text(data.get("command"), "command", required=True)
    spec["command"] = command
    spec["code"] = _code(data.get("code"), check)
    spec["environment"] = _environment(data.get("environment"), check)
    spec["inputs"] = inputs_of(data.get("inputs"), check)
    spec["outputs"] = outputs_of(data.get("outputs"), check)
    spec["compute"] = _compute(data.get("compute"), check)
    spec["resources"] = _resources(data.get("resources"), check)
    spec["distribution"] = _distribution(
        data.get("distribution"), spec["resources"]["instance_count"], check
    )
    spec["environment_variables"] = _environment_variables(
        data.get("environment_variables"), spec["distribution"], check
    )
    spec["limits"] = _limits(data.get("limits"), check)
    spec["queue_settings"] = _queue_settings(data.get("queue_settings"), check)
    if command:
        # Declared counts, valid or not: an input whose path was refused is still declared,
        # and saying otherwise would send the user looking in the wrong place.
        check_command(command, _declared(data.get("inputs")), _declared(data.get("outputs")), check)
    if check.errors:
        # File order reads best; errors without a position (from --set) come last.
        raise SpecError(sorted(check.errors, key=lambda e: (e.line or 10**9, e.column or 0)))
    order = (
        "type", "name", "display_name", "experiment_name", "description", "tags", "command",
        "code", "environment", "environment_variables", "inputs", "outputs", "compute",
        "resources", "distribution", "limits", "queue_settings",
    )  # fmt: skip
    return {key: spec[key] for key in order}


def _declared(section: Any) -> set:
    """The names declared under ``inputs`` or ``outputs`` (none when it is not a mapping)."""
    return set(section) if isinstance(section, dict) else set()


def _marks_of_source(source: str) -> dict[str, tuple[int, int]]:
    try:
        return load_job(source).marks
    except SpecError:
        return {}


def _name(value: Any, check: Checker) -> str | None:
    name = check.text(value, "name")
    if name is not None and not _DNS_LABEL.match(name):
        check.error("name", f"name {name!r} is not allowed: {DNS_LABEL_RULE}")
        return None
    return name


def _experiment(value: Any, check: Checker) -> str:
    if value is None:
        return "Default"
    name = check.text(value, "experiment_name")
    if name is not None and not _EXPERIMENT.match(name):
        check.error("experiment_name", f"experiment_name {name!r} is not allowed: use 1 to 255 "
                                       "letters, digits, dashes, underscores and dots")  # fmt: skip
    return name or "Default"


def _code(value: Any, check: Checker) -> dict | None:
    if value is None:
        return None
    text = check.text(value, "code", required=True)
    if text is None:
        return None
    match = CODE_REF.match(text)
    if match:
        return {"kind": "uploaded", "path": None, "sha256": match[1]}
    if text.startswith("portal:"):
        check.error("code", f"code {text!r} is not a valid upload reference; it must be "
                            "portal:code/ followed by the 64 hex digits of the archive's sha256")  # fmt: skip
    elif text.startswith("azureml:") or "://" in text:
        check.error("code", f"code must be a local folder (the CLI uploads it), got {text!r}; "
                            "code assets, datastores and git URLs are not supported")  # fmt: skip
    else:
        return {"kind": "local", "path": text, "sha256": None}
    return None


def _environment(value: Any, check: Checker) -> dict | None:
    path = "environment"
    if value is None:
        check.error(path, "`environment` is required: give an image (environment: {image: "
                          "python:3.11-slim}) or a registered environment (name:version)")  # fmt: skip
        return None
    if isinstance(value, str):
        return _registered_environment(value.strip(), check)
    env = check.mapping(value, path, "environment fields (image, ...)")
    if env is None:
        return None
    building = "building images is not supported: push an image to a registry and reference it"
    check.keys(
        env, path, ("image", "name", "version", "description", "tags", "os_type"),
        {"build": f"`environment.build`: {building} with environment.image",
         "conda_file": f"`environment.conda_file`: {building} with environment.image "
                       "(install the conda packages in its Dockerfile)"},
    )  # fmt: skip
    os_type = env.get("os_type")
    if os_type is not None and str(os_type).lower() != "linux":
        check.error(f"{path}.os_type", "only Linux images are supported; remove os_type or set "
                                       f"it to linux, got {show(os_type)}")  # fmt: skip
    image = check.text(env.get("image"), f"{path}.image", required=True)
    if image is not None and (any(ch.isspace() for ch in image) or image.startswith("azureml:")):
        check.error(f"{path}.image", f"environment.image must be a container image reference "
                                     f"such as python:3.11-slim, got {image!r}")  # fmt: skip
        image = None
    return {"image": image, "registered": None} if image else None


def _registered_environment(text: str, check: Checker) -> dict | None:
    ref = text.removeprefix("azureml:")
    name, version, latest = ref, None, False
    if ref.startswith("//"):
        check.error("environment", f"environment {text!r} is an Azure registry reference, which is "
                                   "not supported; use name:version of an environment registered "
                                   "in the portal, or {image: ...}")  # fmt: skip
        return None
    if ref.endswith("@latest"):
        name, latest = ref.removesuffix("@latest"), True
    elif ":" in ref:
        name, _, version = ref.partition(":")
    else:
        check.error("environment", f"environment {text!r} needs a version: write "
                                   f"{ref}:<version> or {ref}@latest")  # fmt: skip
        return None
    if not _ASSET_NAME.match(name) or (version is not None and not _ASSET_NAME.match(version)):
        hint = ""
        if "/" in ref or "." in ref.partition(":")[0]:
            hint = f"; to use a container image write environment: {{image: {ref}}}"
        check.error("environment", f"environment {text!r} is not a registered environment "
                                   "reference (name:version or name@latest; names use letters, "
                                   f"digits, dashes, underscores and dots){hint}")  # fmt: skip
        return None
    return {"image": None, "registered": {"name": name, "version": version, "latest": latest}}


def _environment_variables(value: Any, distribution: dict | None, check: Checker) -> dict:
    path = "environment_variables"
    variables = check.string_map(value, path, key_rule=IDENTIFIER)
    framework = FRAMEWORK_ENV.get((distribution or {}).get("type", ""), ())
    for name in variables:
        if name.startswith("KP_") or name == "JOB_COMPLETION_INDEX":
            check.error(f"{path}.{name}", f"`{name}` is set by the portal; choose another name "
                                          "(names starting with KP_ are reserved)")  # fmt: skip
        elif name in framework:
            check.error(f"{path}.{name}", f"`{name}` is set by the portal for "
                                          f"{distribution['type']} distribution; remove it")  # fmt: skip
    return variables


def _compute(value: Any, check: Checker) -> str | None:
    text = check.text(value, "compute", required=True)
    if text is None:
        return None
    name = text.strip().removeprefix("azureml:")
    if not _DNS_LABEL.match(name):
        check.error("compute", f"compute {text!r} is not a compute target name: write "
                               f"azureml:<name> or <name>; names {DNS_LABEL_RULE}")  # fmt: skip
        return None
    return name


def _resources(value: Any, check: Checker) -> dict:
    path = "resources"
    result: dict[str, Any] = {"instance_type": None, "instance_count": 1, "shm_size": "2Gi"}
    resources = check.mapping(value, path, "resource fields")
    if not resources:
        return result
    check.keys(resources, path, RESOURCE_FIELDS, RESOURCE_UNSUPPORTED)
    instance_type = check.text(resources.get("instance_type"), f"{path}.instance_type")
    if instance_type is not None:
        if _DNS_SUBDOMAIN.match(instance_type):
            result["instance_type"] = instance_type
        else:
            check.error(f"{path}.instance_type", f"instance_type {instance_type!r} is not an "
                                                 "instance type name: use lowercase letters, "
                                                 "digits, dashes and dots")  # fmt: skip
    if resources.get("instance_count") is not None:
        count = check.integer(
            resources["instance_count"], f"{path}.instance_count", low=1, high=MAX_INSTANCE_COUNT
        )
        result["instance_count"] = count or 1
    shm = resources.get("shm_size")
    if shm is not None:
        try:
            if not isinstance(shm, str | int) or isinstance(shm, bool):
                raise ValueError(shm)
            size = parse_shm_size(str(shm))
            if size <= 0:
                raise ValueError(shm)
            result["shm_size"] = format_binary_quantity(size)
        except ValueError:
            check.error(f"{path}.shm_size", f"{path}.shm_size must be a size such as 2g, 512m or "
                                            f"2Gi, got {show(shm)}")  # fmt: skip
    return result


def _distribution(value: Any, instance_count: int, check: Checker) -> dict | None:
    path = "distribution"
    if value is None:
        return None
    dist = check.mapping(value, path, "distribution fields (type, ...)")
    if dist is None:
        return None
    kind = dist.get("type")
    if kind == "ray":
        check.error(f"{path}.type", "distribution type ray is not supported: the portal does not "
                                    "start Ray clusters; use pytorch or mpi distribution, or run "
                                    "Ray with an operator such as KubeRay")  # fmt: skip
        return None
    if check.choice(kind, f"{path}.type", tuple(DISTRIBUTION_FIELDS)) is None:
        return None
    check.keys(dist, path, DISTRIBUTION_FIELDS[kind])
    if kind in ("pytorch", "mpi"):
        count = dist.get("process_count_per_instance")
        if count is None and kind == "mpi":
            check.error(f"{path}.process_count_per_instance",
                        "distribution.process_count_per_instance is required for mpi: the "
                        "number of processes (slots) on each instance")  # fmt: skip
            return None
        if count is None:
            count = 1
        else:
            count = check.integer(count, f"{path}.process_count_per_instance", low=1,
                                  high=MAX_PROCESSES_PER_INSTANCE)  # fmt: skip
        return {"type": kind, "process_count_per_instance": count} if count else None
    workers = dist.get("worker_count", instance_count)
    servers = dist.get("parameter_server_count", 0)
    workers = check.integer(workers, f"{path}.worker_count", low=1)
    servers = check.integer(servers, f"{path}.parameter_server_count", low=0)
    if workers is None or servers is None:
        return None
    if workers + servers != instance_count:
        check.error(f"{path}.worker_count",
                    f"distribution.worker_count ({workers}) plus parameter_server_count "
                    f"({servers}) must equal resources.instance_count ({instance_count}): "
                    f"instance_count is the total number of pods; set it to {workers + servers}")  # fmt: skip
        return None
    return {"type": "tensorflow", "worker_count": workers, "parameter_server_count": servers}


def _limits(value: Any, check: Checker) -> dict:
    limits = check.mapping(value, "limits", "limit fields (timeout)")
    result: dict[str, Any] = {"timeout": None}
    if limits:
        check.keys(limits, "limits", ("timeout",))
        if limits.get("timeout") is not None:
            result["timeout"] = check.integer(limits["timeout"], "limits.timeout", low=1)
    return result


def _queue_settings(value: Any, check: Checker) -> dict:
    settings = check.mapping(value, "queue_settings", "queue settings (priority)")
    result = {"priority": "medium"}
    if settings:
        check.keys(settings, "queue_settings", ("priority",), {
            "job_tier": "`queue_settings.job_tier` is not supported: job tiers (spot, basic, "
                        "standard, premium) are Azure billing tiers; remove it and use "
                        "queue_settings.priority to order jobs"})  # fmt: skip
        priority = settings.get("priority")
        if priority is not None:
            lowered = priority.lower() if isinstance(priority, str) else None
            if lowered in PRIORITIES:
                result["priority"] = lowered
            else:
                check.error("queue_settings.priority", "queue_settings.priority must be low, "
                                                       f"medium or high, got {show(priority)}")  # fmt: skip
    return result
