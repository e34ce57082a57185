"""A container's environment and command line, as the kubelet computes them.

`env` entries with ``value`` (``$(VAR)`` expanded against earlier entries), ``valueFrom``
(``fieldRef``, ``secretKeyRef``, ``configMapKeyRef``, ``resourceFieldRef``) and
``envFrom``; then ``command``/``args`` expanded against the result.  The process gets this
plus a minimal PATH, HOME, LANG and HOSTNAME: never the simulator's own environment.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from kubesim.quantity import parse_quantity

Lookup = Callable[[str, str, str], dict[str, Any] | None]  # (resource, namespace, name)

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class EnvError(Exception):
    """A referenced Secret, ConfigMap or key is missing (the kubelet's
    CreateContainerConfigError); the message is the kubelet's."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Return `text` with ``$(VAR)`` replaced from `env` (unknown ones kept) and ``$$`` as ``$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(sub, text)


def _field(pod: dict[str, Any], path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if found:
        return str((meta.get(found.group(1)) or {}).get(found.group(2), ""))
    return ""


def _resource_field(container: dict[str, Any], ref: dict[str, Any]) -> str:
    kind, _, what = str(ref.get("resource", "")).partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(what)
    if value is None:
        return "0"
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    number = parse_quantity(str(value)) / divisor
    return str(int(-(-number // 1)))  # the kubelet rounds up


def _data(obj: dict[str, Any], secret: bool) -> dict[str, str]:
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    if secret:
        out = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in out.items()} | {
            k: str(v) for k, v in (obj.get("stringData") or {}).items()
        }
    else:
        out |= {
            k: base64.b64decode(v).decode("utf-8", "replace")
            for k, v in (obj.get("binaryData") or {}).items()
        }
    return out


def _key_ref(lookup: Lookup, namespace: str, ref: dict[str, Any], secret: bool) -> str | None:
    kind = "Secret" if secret else "ConfigMap"
    obj = lookup("secrets" if secret else "configmaps", namespace, ref.get("name", ""))
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind.lower()} "{ref.get("name", "")}" not found')
    data = _data(obj, secret)
    if ref.get("key") not in data:
        if optional:
            return None
        raise EnvError(
            f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}"
        )
    return data[ref["key"]]


def _value_from(
    pod: dict[str, Any], container: dict[str, Any], source: dict[str, Any], lookup: Lookup
) -> str | None:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    if "fieldRef" in source:
        return _field(pod, str(source["fieldRef"].get("fieldPath", "")))
    if "resourceFieldRef" in source:
        return _resource_field(container, source["resourceFieldRef"])
    if "secretKeyRef" in source:
        return _key_ref(lookup, namespace, source["secretKeyRef"], True)
    if "configMapKeyRef" in source:
        return _key_ref(lookup, namespace, source["configMapKeyRef"], False)
    return None


def _env_from(pod: dict[str, Any], container: dict[str, Any], lookup: Lookup) -> dict[str, str]:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    out: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        prefix = str(source.get("prefix") or "")
        secret = "secretRef" in source
        ref = source.get("secretRef") or source.get("configMapRef") or {}
        obj = lookup("secrets" if secret else "configmaps", namespace, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            kind = "secret" if secret else "configmap"
            raise EnvError(f'{kind} "{ref.get("name", "")}" not found')
        for key, value in _data(obj, secret).items():
            out[prefix + key] = value
    return out


def container_env(pod: dict[str, Any], container: dict[str, Any], lookup: Lookup) -> dict[str, str]:
    """Return the variables the pod spec gives `container` (envFrom first, then env).

    Raises EnvError when a required Secret, ConfigMap or key is missing.
    """
    env = _env_from(pod, container, lookup)
    for entry in container.get("env") or ():
        name = entry.get("name")
        if not name:
            continue
        if "valueFrom" in entry:
            value = _value_from(pod, container, entry["valueFrom"] or {}, lookup)
            if value is None:
                continue
            env[name] = value
        else:
            env[name] = expand(str(entry.get("value", "")), env)
    return env


def process_env(
    pod: dict[str, Any], env: Mapping[str, str], *, python_bin: str, home: str
) -> dict[str, str]:
    """Return the whole environment of the process: minimal base, then the pod's variables.

    `python_bin` (the sandbox interpreter's folder) leads PATH, so ``python`` is that one.
    """
    base = {
        "PATH": f"{python_bin}:{BASE_PATH}",
        "HOME": home,
        "LANG": "C.UTF-8",
        "HOSTNAME": str((pod.get("metadata") or {}).get("name", "")),
        "PYTHONUNBUFFERED": "1",
    }
    return base | dict(env)


def command_line(container: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Return command + args with ``$(VAR)`` expanded (empty when the image's entrypoint
    would be used)."""
    parts = [str(p) for p in container.get("command") or ()]
    parts += [str(p) for p in container.get("args") or ()]
    return [expand(p, env) for p in parts]
