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

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import yaml

from compute import quantity

MAX_SPEC_CHARS = 256 * 1024
MAX_INSTANCE_COUNT = 64
MAX_PROCESSES_PER_INSTANCE = 128
CODE_REF_PREFIX = "portal:code/"

DNS_LABEL_RULE = (
    "use 1 to 63 lowercase letters, digits and dashes, starting with a letter and ending with a "
    "letter or digit"
)
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_CODE_REF = re.compile(r"^portal:code/([0-9a-f]{64})$")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_REFERENCE = re.compile(r"^(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)$")
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
INPUT_TYPES = ("uri_folder", "uri_file")
INPUT_MODES = ("ro_mount", "download", "direct")
OUTPUT_TYPES = ("uri_folder", "uri_file")
OUTPUT_MODES = ("rw_mount", "upload")
PRIORITIES = ("low", "medium", "high")
_DATASTORE_ADVICE = "datastores are an Azure feature; use an http(s) URL or pvc://claim/path"


@dataclass
class FieldError:
    """One problem in a spec: the dotted field path ("" for the document) and a sentence."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


class SpecError(Exception):
    """Raised with every problem found; ``errors`` is never empty."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


# --------------------------------------------------------------------------- YAML with positions


def _load(text: str) -> tuple[Any, yaml.Node | None]:
    """Returns (data, node tree); raises SpecError for syntax errors and multiple documents."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            [FieldError("", f"the job file is {len(text)} characters; the limit is "
                            f"{MAX_SPEC_CHARS}. Keep data out of the spec (use inputs)")]
        )  # fmt: skip
    # libyaml's loader when present: same nodes and marks, several times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise SpecError(
            [FieldError("", f"the job file is not valid YAML: {problem}; fix the syntax there",
                        mark.line + 1 if mark else None, mark.column + 1 if mark else None)]
        ) from None  # fmt: skip
    except yaml.YAMLError as exc:
        raise SpecError([FieldError("", f"the job file is not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, node


def _walk(node: yaml.Node, path: str, seen: set[int]) -> Iterable[tuple[str, yaml.Node]]:
    """Yields (dotted path, key node) for every mapping entry under ``node``, once per node."""
    if id(node) in seen:  # aliases share nodes; visiting once keeps alias bombs cheap
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                yield child, key_node
                yield from _walk(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, f"{path}.{index}", seen)


def _marks(node: yaml.Node | None) -> dict[str, tuple[int, int]]:
    if node is None:
        return {}
    marks = {"": (node.start_mark.line + 1, node.start_mark.column + 1)}
    for path, key_node in _walk(node, "", set()):
        marks.setdefault(path, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
    return marks


def _duplicate_keys(node: yaml.Node | None) -> list[FieldError]:
    """PyYAML keeps the last of duplicate keys silently; the user meant one of them."""
    errors: list[FieldError] = []
    stack, seen = ([node] if node is not None else []), set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in keys:
                        mark = key_node.start_mark
                        errors.append(FieldError(
                            "", f"the key `{key_node.value}` appears twice in the same mapping; "
                                "keep only one", mark.line + 1, mark.column + 1))  # fmt: skip
                    keys.add(key_node.value)
                stack.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return errors


def parse_job_yaml(text: str) -> dict:
    """Returns the YAML document in ``text`` as a dict.

    Raises SpecError when the text is not YAML (one FieldError with line and column), when it
    holds duplicate keys, more than one document, or a document that is not a mapping.
    """
    data, node = _load(text)
    duplicates = _duplicate_keys(node)
    if duplicates:
        raise SpecError(duplicates)
    if not isinstance(data, dict):
        line = node.start_mark.line + 1 if node is not None else None
        column = node.start_mark.column + 1 if node is not None else None
        got = "an empty file" if data is None else f"a {_kind(data)}"
        raise SpecError(
            [FieldError("", f"a job file must be a YAML mapping of fields (command, environment, "
                            f"compute, ...), got {got}", line, column)]
        )  # fmt: skip
    return data


# --------------------------------------------------------------------------- helpers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"a {_kind(value)}"
    return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def scalar_text(value: str | int | float | bool | date) -> str:
    """Returns the text a scalar stands for: booleans as YAML spells them ("true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | date)


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


def code_reference(sha256: str) -> str:
    """Returns the ``code`` value that refers to an uploaded archive: "portal:code/<sha256>"."""
    return f"{CODE_REF_PREFIX}{sha256}"


def references(command: str) -> list[tuple[str, str]]:
    """Returns the (inputs|outputs, name) pairs referenced as ``${{...}}`` in ``command``."""
    found = []
    for match in _EXPRESSION.finditer(command):
        ref = _REFERENCE.match(match[1])
        if ref:
            found.append((ref[1], ref[2]))
    return found


def substitute_command(command: str, *, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    """Returns ``command`` with ``${{inputs.x}}`` replaced by ``inputs["x"]`` and
    ``${{outputs.y}}`` by ``outputs["y"]``, verbatim (no shell quoting, as Azure ML does).

    Raises ValueError naming a reference that has no value or an unsupported expression.
    """

    def replace(match: re.Match[str]) -> str:
        ref = _REFERENCE.match(match[1])
        if not ref:
            raise ValueError(f"unsupported expression {match[0]} in command")
        values = inputs if ref[1] == "inputs" else outputs
        if ref[2] not in values:
            raise ValueError(f"command refers to {match[0]}, which has no value")
        return values[ref[2]]

    return _EXPRESSION.sub(replace, command)


def _override_value(text: Any) -> Any:
    """A --set value: numbers, booleans and null as YAML reads them; anything else verbatim.

    Verbatim because YAML would turn "echo a: b" into a mapping and drop "# comments".
    """
    if not isinstance(text, str):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, bool) and text.strip().lower() not in ("true", "false"):
        return text  # YAML 1.1 reads yes/no/on/off as booleans; nobody means that in --set
    if value is None or isinstance(value, bool | int | float):
        return value
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    if quoted and isinstance(value, str):
        return value
    return text


# --------------------------------------------------------------------------- validation


class _Checker:
    """Collects FieldErrors, placing each at the nearest known position in the YAML text."""

    def __init__(self, marks: dict[str, tuple[int, int]], overridden: Iterable[str]):
        self.marks = marks
        self.overridden = tuple(overridden)
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        line = column = None
        # A value set by --set is not where the file says; pointing there would mislead.
        from_override = any(path == p or path.startswith(p + ".") for p in self.overridden)
        if not from_override:
            probe = path
            while probe not in self.marks and probe:
                probe = probe.rpartition(".")[0]
            line, column = self.marks.get(probe, (None, None))
        self.errors.append(FieldError(path, message, line, column))

    def mapping(self, value: Any, path: str, what: str) -> dict | None:
        """Returns ``value`` as a dict ({} for null), or None after reporting a wrong type."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.error(path, f"{path} must be a mapping of {what}, got {_show(value)}")
        return None

    def keys(
        self,
        mapping: dict,
        path: str,
        known: Iterable[str],
        unsupported: Mapping[str, str] | None = None,
    ) -> None:
        known = tuple(known)
        for key in mapping:
            child = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                self.error(child, f"field names must be text, got {_show(key)}")
            elif unsupported and key in unsupported:
                self.error(child, unsupported[key])
            elif key not in known:
                message = f"unknown field `{child}`; known fields here are: {', '.join(known)}"
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                if close:
                    message += f". Did you mean `{close[0]}`?"
                self.error(child, message)

    def text(self, value: Any, path: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.error(path, f"`{path}` is required")
            return None
        if not isinstance(value, str):
            self.error(path, f"{path} must be text, got {_show(value)}")
            return None
        if required and not value.strip():
            self.error(path, f"`{path}` must not be empty")
            return None
        return value

    def integer(self, value: Any, path: str, *, low: int, high: int | None = None) -> int | None:
        if _is_int(value) and value >= low and (high is None or value <= high):
            return value
        rule = f"an integer ≥ {low}" + (f" and ≤ {high}" if high is not None else "")
        self.error(path, f"{path} must be {rule}, got {_show(value)}")
        return None

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> str | None:
        if value in options:
            return value
        self.error(path, f"{path} must be one of {', '.join(options)}, got {_show(value)}")
        return None

    def names(self, mapping: dict | None, section: str) -> Iterable[tuple[str, Any, str]]:
        """Yields (name, value, path) for each valid input/output name, sorted by name."""
        seen: dict[str, str] = {}
        word = section.removesuffix("s")
        for name in sorted(mapping or {}, key=str):
            path = f"{section}.{name}"
            if not (isinstance(name, str) and _IDENTIFIER.match(name)):
                self.error(path, f"{word} name `{name}` is not allowed; use letters, digits and "
                                 "underscores, not starting with a digit")  # fmt: skip
                continue
            if name.upper() in seen:  # both would become the same KP_<SECTION>_<NAME> variable
                self.error(path, f"{word} `{name}` differs from `{seen[name.upper()]}` only in "
                                 "case; rename one")  # fmt: skip
            seen[name.upper()] = name
            yield name, mapping[name], path

    def string_map(self, value: Any, path: str, *, key_rule: re.Pattern[str] | None) -> dict:
        mapping = self.mapping(value, path, "names to text values")
        result: dict[str, str] = {}
        for key, item in (mapping or {}).items():
            name = scalar_text(key) if _is_scalar(key) else str(key)
            child = f"{path}.{name}"
            if key_rule is not None and not (isinstance(key, str) and key_rule.match(key)):
                self.error(child, f"`{name}` is not a valid environment variable name; use "
                                  "letters, digits and underscores, not starting with a digit")  # fmt: skip
                continue
            if item is None and key_rule is None:
                result[name] = ""  # a tag without a value is a plain label
            elif _is_scalar(item):
                result[name] = scalar_text(item)
            else:
                self.error(child, f"{child} must be text, a number or a boolean, got {_show(item)}")
        return result


def _apply_overrides(raw: dict, overrides: Mapping[str, Any], check: _Checker) -> dict:
    data = copy.deepcopy(raw)
    for key, text in overrides.items():
        parts = key.split(".") if isinstance(key, str) else []
        if not parts or any(not part for part in parts):
            check.error(str(key), f"`--set {key}=...` does not name a field; write a dotted path "
                                  "such as resources.instance_count=2")  # fmt: skip
            continue
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                check.error(
                    key, f"cannot set `{key}`: `{prefix}` is a {_kind(child)}, not a mapping"
                )
                break
            node = child
        else:
            node[parts[-1]] = _override_value(text)
    return data


def validate_job_spec(
    raw: dict, *, source: str | None = None, overrides: dict[str, str] | None = None
) -> dict:
    """Returns the normalised spec (shape in the module docstring) for the command job ``raw``.

    ``overrides`` ("a.b" → text) are applied first; their values are read as numbers, booleans
    or null when they look like one, otherwise kept as text. Raises SpecError listing every
    problem found; with ``source`` (the YAML text of ``raw``) each carries line and column.
    """
    marks: dict[str, tuple[int, int]] = {}
    if source is not None:
        try:
            marks = _marks(_load(source)[1])
        except SpecError:
            marks = {}
    check = _Checker(marks, overrides or {})
    if not isinstance(raw, dict):
        check.error("", f"a job spec must be a mapping of fields, got {_show(raw)}")
        raise SpecError(check.errors)
    data = _apply_overrides(raw, overrides or {}, check)

    job_type = data.get("type", "command")
    if job_type != "command":
        if isinstance(job_type, str) and job_type in REFUSED_TYPES:
            check.error("type", REFUSED_TYPES[job_type])
        else:
            check.error("type", f"type must be `command` (the only job type the portal runs), "
                                f"got {_show(job_type)}")  # fmt: skip
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
    spec["inputs"] = _inputs(data.get("inputs"), check)
    spec["outputs"] = _outputs(data.get("outputs"), check)
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
        _check_command(command, spec["inputs"], spec["outputs"], check)
    if check.errors:
        # File order reads best; errors without a position (from --set) come last.
        raise SpecError(sorted(check.errors, key=lambda e: (e.line or 10**9, e.column or 0)))
    order = (
        "type", "name", "display_name", "experiment_name", "description", "tags", "command",
        "code", "environment", "environment_variables", "inputs", "outputs", "compute",
        "resources", "distribution", "limits", "queue_settings",
    )  # fmt: skip
    return {key: spec[key] for key in order}


def _name(value: Any, check: _Checker) -> str | None:
    name = check.text(value, "name")
    if name is not None and not _DNS_LABEL.match(name):
        check.error("name", f"name {name!r} is not allowed: {DNS_LABEL_RULE}")
        return None
    return name


def _experiment(value: Any, check: _Checker) -> str:
    if value is None:
        return "Default"
    name = check.text(value, "experiment_name")
    if name is not None and not _EXPERIMENT.match(name):
        check.error("experiment_name", f"experiment_name {name!r} is not allowed: use 1 to 255 "
                                       "letters, digits, dashes, underscores and dots")  # fmt: skip
    return name or "Default"


def _code(value: Any, check: _Checker) -> dict | None:
    if value is None:
        return None
    text = check.text(value, "code", required=True)
    if text is None:
        return None
    match = _CODE_REF.match(text)
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


def _environment(value: Any, check: _Checker) -> dict | None:
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
                                       f"it to linux, got {_show(os_type)}")  # fmt: skip
    image = check.text(env.get("image"), f"{path}.image", required=True)
    if image is not None and (any(ch.isspace() for ch in image) or image.startswith("azureml:")):
        check.error(f"{path}.image", f"environment.image must be a container image reference "
                                     f"such as python:3.11-slim, got {image!r}")  # fmt: skip
        image = None
    return {"image": image, "registered": None} if image else None


def _registered_environment(text: str, check: _Checker) -> dict | None:
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


def _environment_variables(value: Any, distribution: dict | None, check: _Checker) -> dict:
    path = "environment_variables"
    variables = check.string_map(value, path, key_rule=_IDENTIFIER)
    framework = FRAMEWORK_ENV.get((distribution or {}).get("type", ""), ())
    for name in variables:
        if name.startswith("KP_") or name == "JOB_COMPLETION_INDEX":
            check.error(f"{path}.{name}", f"`{name}` is set by the portal; choose another name "
                                          "(names starting with KP_ are reserved)")  # fmt: skip
        elif name in framework:
            check.error(f"{path}.{name}", f"`{name}` is set by the portal for "
                                          f"{distribution['type']} distribution; remove it")  # fmt: skip
    return variables


def _pvc_path(text: str) -> tuple[str, str | None] | None:
    """Returns (claim, sub path or None) for "pvc://claim/sub/path"; None when malformed."""
    claim, _, rest = text.removeprefix("pvc://").partition("/")
    parts = [part for part in rest.split("/") if part not in ("", ".")]
    if not _DNS_SUBDOMAIN.match(claim) or ".." in parts:
        return None
    return claim, "/".join(parts) or None


def _bad_location(text: str, path: str, check: _Checker, *, allow_url: bool) -> None:
    lowered = text.lower()
    accepted = "an http(s) URL or pvc://claim/path" if allow_url else "pvc://claim/path"
    if lowered.startswith("azureml:") or lowered.startswith("azureml://"):
        if allow_url:
            check.error(path, f"{path} {text!r} is not supported: {_DATASTORE_ADVICE}")
        else:
            check.error(path, f"{path} {text!r} is not supported: datastores are an Azure "
                              "feature; omit path to use the job's output store, or use "
                              "pvc://claim/path")  # fmt: skip
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        check.error(path, f"{path} {text!r} is not supported: {scheme}:// storage cannot be "
                          f"reached from the cluster by the portal; use {accepted}")  # fmt: skip
    else:
        check.error(path, f"{path} {text!r} is a local path, which is not uploaded; use "
                          f"{accepted} (small files can go in the code folder)")  # fmt: skip


def _inputs(value: Any, check: _Checker) -> dict:
    inputs = check.mapping(value, "inputs", "input names to values or {type, path, mode}")
    result: dict[str, dict] = {}
    for name, item, path in check.names(inputs, "inputs"):
        if isinstance(item, dict):
            parsed = _uri_input(item, path, check)
            if parsed:
                result[name] = parsed
        elif _is_scalar(item):
            literal = item.isoformat() if isinstance(item, date) else item
            result[name] = {"kind": "literal", "value": literal}
        else:
            check.error(path, f"{path} must be a literal (text, number, boolean) or a mapping "
                              f"with type, path and mode, got {_show(item)}")  # fmt: skip
    return result


def _uri_input(item: dict, path: str, check: _Checker) -> dict | None:
    check.keys(item, path, ("type", "path", "mode", "description"))
    kind = item.get("type", "uri_folder")
    if kind in ("mlflow_model", "custom_model", "triton_model"):
        check.error(f"{path}.type", f"input type {kind} is not supported: models are Azure "
                                    "registry assets; use type uri_folder with an http(s) URL or "
                                    "pvc://claim/path to the model files")  # fmt: skip
        return None
    if kind == "mltable":
        check.error(f"{path}.type", "input type mltable is not supported: MLTable is an Azure "
                                    "data format; use uri_file or uri_folder")  # fmt: skip
        return None
    kind = check.choice(kind, f"{path}.type", INPUT_TYPES)
    mode = check.choice(item.get("mode", "ro_mount"), f"{path}.mode", INPUT_MODES)
    if kind is None or mode is None:
        return None
    location = check.text(item.get("path"), f"{path}.path", required=True)
    if location is None:
        return None
    result = {"kind": "uri", "type": kind, "mode": mode, "path": location}
    lowered = location.lower()
    if lowered.startswith(("http://", "https://")):
        url = urlsplit(location)
        if not url.hostname:
            check.error(f"{path}.path", f"{path}.path {location!r} is not a complete URL")
            return None
        if kind == "uri_file" and (url.path.endswith("/") or not url.path.strip("/")):
            check.error(f"{path}.path", f"{path}.path must name a file for type uri_file, "
                                        f"got {location!r}")  # fmt: skip
            return None
        return result | {"source": "url", "url": location, "claim": None, "sub_path": None}
    if lowered.startswith("pvc://"):
        parsed = _pvc_path(location)
        if parsed is None:
            check.error(f"{path}.path", f"{path}.path {location!r} is not a valid pvc path: write "
                                        "pvc://<claim-name>/<path> with a lowercase claim name "
                                        "and no '..'")  # fmt: skip
            return None
        if mode == "direct":
            check.error(f"{path}.mode", "mode direct passes a URL to the command; pvc inputs are "
                                        "always mounted, use ro_mount")  # fmt: skip
            return None
        if kind == "uri_file" and parsed[1] is None:
            check.error(f"{path}.path", f"{path}.path must name a file inside the claim for type "
                                        f"uri_file, got {location!r}")  # fmt: skip
            return None
        return result | {"source": "pvc", "url": None, "claim": parsed[0], "sub_path": parsed[1]}
    _bad_location(location, f"{path}.path", check, allow_url=True)
    return None


def _outputs(value: Any, check: _Checker) -> dict:
    outputs = check.mapping(value, "outputs", "output names to {type, mode, path} or null")
    result: dict[str, dict] = {}
    for name, item, path in check.names(outputs, "outputs"):
        item = check.mapping(item, path, "output fields (type, mode, path)")
        if item is None:
            continue
        check.keys(item, path, ("type", "mode", "path", "description"),
                   {key: f"`{path}.{key}`: registering outputs as data assets is not supported; "
                         "outputs stay in the job's output store or the pvc you name"
                    for key in ("name", "version")})  # fmt: skip
        kind = check.choice(item.get("type", "uri_folder"), f"{path}.type", OUTPUT_TYPES)
        mode = check.choice(item.get("mode", "rw_mount"), f"{path}.mode", OUTPUT_MODES)
        if kind is None or mode is None:
            continue
        entry = {"type": kind, "mode": mode, "path": None, "source": "job", "claim": None,
                 "sub_path": None}  # fmt: skip
        location = check.text(item.get("path"), f"{path}.path")
        if location is not None:
            parsed = _pvc_path(location) if location.lower().startswith("pvc://") else None
            if parsed is None:
                if location.lower().startswith("pvc://"):
                    check.error(f"{path}.path", f"{path}.path {location!r} is not a valid pvc "
                                                "path: write pvc://<claim-name>/<path>")  # fmt: skip
                else:
                    _bad_location(location, f"{path}.path", check, allow_url=False)
                continue
            if kind == "uri_file" and parsed[1] is None:
                check.error(f"{path}.path", f"{path}.path must name a file inside the claim for "
                                            f"type uri_file, got {location!r}")  # fmt: skip
                continue
            entry |= {"path": location, "source": "pvc", "claim": parsed[0], "sub_path": parsed[1]}
        result[name] = entry
    return result


def _compute(value: Any, check: _Checker) -> str | None:
    text = check.text(value, "compute", required=True)
    if text is None:
        return None
    name = text.strip().removeprefix("azureml:")
    if not _DNS_LABEL.match(name):
        check.error("compute", f"compute {text!r} is not a compute target name: write "
                               f"azureml:<name> or <name>; names {DNS_LABEL_RULE}")  # fmt: skip
        return None
    return name


def _resources(value: Any, check: _Checker) -> dict:
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
                                            f"2Gi, got {_show(shm)}")  # fmt: skip
    return result


def _distribution(value: Any, instance_count: int, check: _Checker) -> dict | None:
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


def _limits(value: Any, check: _Checker) -> dict:
    limits = check.mapping(value, "limits", "limit fields (timeout)")
    result: dict[str, Any] = {"timeout": None}
    if limits:
        check.keys(limits, "limits", ("timeout",))
        if limits.get("timeout") is not None:
            result["timeout"] = check.integer(limits["timeout"], "limits.timeout", low=1)
    return result


def _queue_settings(value: Any, check: _Checker) -> dict:
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
                                                       f"medium or high, got {_show(priority)}")  # fmt: skip
    return result


def _check_command(command: str, inputs: dict, outputs: dict, check: _Checker) -> None:
    if "$[[" in command:
        check.error("command", "optional arguments `$[[...]]` are not supported; every input "
                               "referenced in the command must be declared")  # fmt: skip
    for match in _EXPRESSION.finditer(command):
        ref = _REFERENCE.match(match[1])
        if not ref:
            check.error("command", f"{match[0]} in command is not supported; only "
                                   "${{inputs.<name>}} and ${{outputs.<name>}} can be used")  # fmt: skip
        elif ref[2] not in (inputs if ref[1] == "inputs" else outputs):
            kind = "input" if ref[1] == "inputs" else "output"
            check.error("command", f"command refers to {match[0]}, but no {kind} `{ref[2]}` is "
                                   f"declared; add it under {ref[1]}")  # fmt: skip
