"""Inputs and outputs of a command job spec, and the command's references to them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from jobs.spec.base import Checker, is_scalar, show

_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
REFERENCE = re.compile(r"^(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)$")
INPUT_TYPES = ("uri_folder", "uri_file")
INPUT_MODES = ("ro_mount", "download", "direct")
OUTPUT_TYPES = ("uri_folder", "uri_file")
OUTPUT_MODES = ("rw_mount", "upload")
_DATASTORE_ADVICE = "datastores are an Azure feature; use an http(s) URL or pvc://claim/path"


def _pvc_path(text: str) -> tuple[str, str | None] | None:
    """Returns (claim, sub path or None) for "pvc://claim/sub/path"; None when malformed."""
    claim, _, rest = text.removeprefix("pvc://").partition("/")
    parts = [part for part in rest.split("/") if part not in ("", ".")]
    if not _DNS_SUBDOMAIN.match(claim) or ".." in parts:
        return None
    return claim, "/".join(parts) or None


def _bad_location(text: str, path: str, check: Checker, *, allow_url: bool) -> None:
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


def inputs_of(value: Any, check: Checker) -> dict:
    inputs = check.mapping(value, "inputs", "input names to values or {type, path, mode}")
    result: dict[str, dict] = {}
    for name, item, path in check.names(inputs, "inputs"):
        if isinstance(item, dict):
            parsed = _uri_input(item, path, check)
            if parsed:
                result[name] = parsed
        elif is_scalar(item):
            literal = item.isoformat() if isinstance(item, date) else item
            result[name] = {"kind": "literal", "value": literal}
        else:
            check.error(path, f"{path} must be a literal (text, number, boolean) or a mapping "
                              f"with type, path and mode, got {show(item)}")  # fmt: skip
    return result


def _uri_input(item: dict, path: str, check: Checker) -> dict | None:
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


def outputs_of(value: Any, check: Checker) -> dict:
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


def check_command(command: str, inputs: dict, outputs: dict, check: Checker) -> None:
    if "$[[" in command:
        check.error("command", "optional arguments `$[[...]]` are not supported; every input "
                               "referenced in the command must be declared")  # fmt: skip
    for match in EXPRESSION.finditer(command):
        ref = REFERENCE.match(match[1])
        if not ref:
            check.error("command", f"{match[0]} in command is not supported; only "
                                   "${{inputs.<name>}} and ${{outputs.<name>}} can be used")  # fmt: skip
        elif ref[2] not in (inputs if ref[1] == "inputs" else outputs):
            kind = "input" if ref[1] == "inputs" else "output"
            check.error("command", f"command refers to {match[0]}, but no {kind} `{ref[2]}` is "
                                   f"declared; add it under {ref[1]}")  # fmt: skip
