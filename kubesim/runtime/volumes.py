"""Pod volumes as host folders, and each container's mounts onto them.

``emptyDir``, ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (those three)
become folders under the pod's own folder; ``persistentVolumeClaim`` resolves through its
bound PersistentVolume to that volume's folder; ``hostPath`` is the host folder itself.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .podenv import Lookup, _data, _field

Resolve = Callable[[str, str], str]  # (namespace, claim) -> host folder; raises VolumeError


class VolumeError(Exception):
    """A volume or mount cannot be provided; the message is the kubelet's event text."""


@dataclass(frozen=True)
class Mount:
    """One bind mount: host `source` at `target` inside the container."""

    source: str
    target: str
    read_only: bool


def _write_items(
    folder: str, files: dict[str, str], items: list[dict[str, Any]] | None, mode: int
) -> None:
    os.makedirs(folder, exist_ok=True)
    chosen = (
        {item["key"]: item.get("path", item["key"]) for item in items if item.get("key") in files}
        if items
        else {key: key for key in files}
    )
    for key, rel in chosen.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(files[key])
        os.chmod(path, mode)


def _key_files(
    volume: dict[str, Any], lookup: Lookup, namespace: str, secret: bool
) -> dict[str, str]:
    name = volume.get("secretName" if secret else "name", "")
    obj = lookup("secrets" if secret else "configmaps", namespace, name)
    if obj is None:
        if volume.get("optional"):
            return {}
        kind = "secret" if secret else "configmap"
        raise VolumeError(f'MountVolume.SetUp failed: {kind} "{name}" not found')
    return _data(obj, secret)


def _downward_files(pod: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for item in items or ():
        ref = item.get("fieldRef") or {}
        path = ref.get("fieldPath", "")
        if path in ("metadata.labels", "metadata.annotations"):
            values = (pod.get("metadata") or {}).get(path.split(".")[1]) or {}
            out[item["path"]] = "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        else:
            out[item["path"]] = _field(pod, path)
    return out


def _projected(pod: dict[str, Any], volume: dict[str, Any], lookup: Lookup, folder: str) -> None:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    mode = int(volume.get("defaultMode", 0o644))
    for source in volume.get("sources") or ():
        if "configMap" in source or "secret" in source:
            secret = "secret" in source
            spec = source.get("secret") or source.get("configMap") or {}
            spec = {**spec, "secretName": spec.get("name", "")} if secret else spec
            files = _key_files(spec, lookup, namespace, secret)
            _write_items(folder, files, spec.get("items"), mode)
        elif "downwardAPI" in source:
            files = _downward_files(pod, (source["downwardAPI"] or {}).get("items") or [])
            _write_items(folder, files, None, mode)
    os.makedirs(folder, exist_ok=True)


def _host_path(volume: dict[str, Any]) -> str:
    path = str(volume.get("path", ""))
    kind = volume.get("type") or ""
    if kind in ("DirectoryOrCreate", "") and not os.path.exists(path):
        os.makedirs(path, exist_ok=True)
    if not os.path.exists(path):
        raise VolumeError(
            f"MountVolume.SetUp failed: hostPath type check failed: {path} is not a {kind}"
        )
    return path


def _one_volume(
    pod: dict[str, Any], volume: dict[str, Any], folder: str, lookup: Lookup, claim: Resolve
) -> str:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    if "emptyDir" in volume:
        os.makedirs(folder, exist_ok=True)
        return folder
    if "configMap" in volume or "secret" in volume:
        secret = "secret" in volume
        spec = volume.get("secret") or volume.get("configMap") or {}
        files = _key_files(spec, lookup, namespace, secret)
        _write_items(folder, files, spec.get("items"), int(spec.get("defaultMode", 0o644)))
        return folder
    if "downwardAPI" in volume:
        spec = volume["downwardAPI"] or {}
        _write_items(folder, _downward_files(pod, spec.get("items") or []), None, 0o644)
        return folder
    if "projected" in volume:
        _projected(pod, volume["projected"] or {}, lookup, folder)
        return folder
    if "persistentVolumeClaim" in volume:
        return claim(namespace, (volume["persistentVolumeClaim"] or {}).get("claimName", ""))
    if "hostPath" in volume:
        return _host_path(volume["hostPath"] or {})
    kinds = sorted(k for k in volume if k != "name")
    raise VolumeError(
        f"volume {volume.get('name')!r} of type {', '.join(kinds) or 'unknown'} is not supported "
        "by the local runtime"
    )


def prepare_volumes(
    pod: dict[str, Any], pod_dir: str, lookup: Lookup, claim: Resolve
) -> dict[str, str]:
    """Return volume name -> host folder, creating the pod's own volumes under `pod_dir`.

    Raises VolumeError when one cannot be provided (nothing has been started then).
    """
    out = {}
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        name = str(volume.get("name", ""))
        out[name] = _one_volume(pod, volume, os.path.join(pod_dir, "volumes", name), lookup, claim)
    return out


def container_mounts(container: dict[str, Any], volumes: dict[str, str]) -> list[Mount]:
    """Return the container's mounts in spec order; subPaths are created as folders.

    Raises VolumeError for a mount of an unknown volume or a subPath leaving its volume.
    """
    mounts = []
    for entry in container.get("volumeMounts") or ():
        name = entry.get("name", "")
        if name not in volumes:
            raise VolumeError(f'unable to find volume "{name}" for mount {entry.get("mountPath")}')
        source = volumes[name]
        sub = str(entry.get("subPath") or "")
        if sub:
            clean = posixpath.normpath(sub)
            if clean.startswith("..") or posixpath.isabs(clean):
                raise VolumeError(f"subPath {sub!r} must stay inside volume {name!r}")
            source = os.path.join(source, clean)
            if not os.path.exists(source):
                os.makedirs(source, exist_ok=True)
        target = posixpath.normpath(str(entry.get("mountPath", "")))
        if not posixpath.isabs(target) or target == "/":
            raise VolumeError(f"mount path {entry.get('mountPath')!r} must be absolute and not /")
        mounts.append(Mount(source, target, bool(entry.get("readOnly"))))
    return mounts


def remove_pod_dir(pod_dir: str) -> None:
    """Delete the pod's own volume folders (claims and host paths live elsewhere)."""
    shutil.rmtree(pod_dir, ignore_errors=True)
