"""Storage: a default StorageClass that provisions at once, and the binder that gives each
claim of it a PersistentVolume backed by a folder of its own (``<root>/claims/...``)."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key

log = logging.getLogger(__name__)

DEFAULT_CLASS = "standard"
PROVISIONER = "kubesim.io/local-path"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
CLASSES = "storageclasses.storage.k8s.io"


def ensure_default_class(store: Any) -> None:
    """Create the default StorageClass unless one exists."""
    if store.peek(CLASSES, DEFAULT_CLASS) is not None:
        return
    store.create(
        CLASSES,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    )


class StorageController(Controller):
    """Binds claims: provisions a volume for claims of a kubesim class (or the default)."""

    name = "storage"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, root: str):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._root = root or "/var/lib/kubesim"
        self._create_folders = bool(root)
        cluster.subscribe("persistentvolumeclaims", self._on_claim)

    def _on_claim(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        if event_type == "DELETED":
            self._release(obj)
            return
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _class_of(self, pvc: dict[str, Any]) -> dict[str, Any] | None:
        name = (pvc.get("spec") or {}).get("storageClassName")
        if name is None:
            classes, _ = self._store.list(CLASSES)
            return next(
                (
                    c
                    for c in classes
                    if ((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_ANNOTATION)
                    == "true"
                ),
                None,
            )
        return self._store.peek(CLASSES, name) if name else None

    def reconcile(self, key: Key) -> None:
        """Bind claim `key` if it is unbound and its class provisions here."""
        pvc = self._cluster.objects["persistentvolumeclaims"].get(key)
        if pvc is None or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        sc = self._class_of(pvc)
        if sc is None or sc.get("provisioner") != PROVISIONER:
            return
        namespace, name = key
        meta = pvc.get("metadata") or {}
        spec = pvc.get("spec") or {}
        volume = f"pvc-{meta.get('uid')}"
        path = os.path.join(self._root, "claims", namespace, f"{name}-{str(meta.get('uid'))[:8]}")
        if self._create_folders:
            os.makedirs(path, exist_ok=True)
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        if self._store.peek("persistentvolumes", volume) is None:
            self._store.create(
                "persistentvolumes",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {
                        "name": volume,
                        "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                    },
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": modes,
                        "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                        "storageClassName": (sc.get("metadata") or {}).get("name"),
                        "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                        "claimRef": {
                            "kind": "PersistentVolumeClaim",
                            "apiVersion": "v1",
                            "namespace": namespace,
                            "name": name,
                            "uid": meta.get("uid"),
                        },
                        "volumeMode": spec.get("volumeMode") or "Filesystem",
                    },
                },
            )
            self._store.patch(
                "persistentvolumes", volume, {"status": {"phase": "Bound"}}, subresource="status"
            )
        self._store.patch(
            "persistentvolumeclaims",
            name,
            {
                "metadata": {
                    "annotations": {
                        "pv.kubernetes.io/bind-completed": "yes",
                        "pv.kubernetes.io/bound-by-controller": "yes",
                    }
                },
                "spec": {
                    "volumeName": volume,
                    "storageClassName": (sc.get("metadata") or {}).get("name"),
                },
            },
            namespace=namespace,
        )
        self._store.patch(
            "persistentvolumeclaims",
            name,
            {"status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}},
            namespace=namespace,
            subresource="status",
        )
        self._events.record(
            pvc,
            "PersistentVolumeClaim",
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume} using {PROVISIONER}",
            "persistentvolume-controller",
        )

    def _release(self, pvc: dict[str, Any]) -> None:
        """Delete the provisioned volume of a deleted claim, and its folder."""
        volume = (pvc.get("spec") or {}).get("volumeName")
        pv = self._store.peek("persistentvolumes", volume) if volume else None
        if pv is None:
            return
        spec = pv.get("spec") or {}
        if spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        self._loop.call_soon(self._delete_volume, volume, (spec.get("hostPath") or {}).get("path"))

    def _delete_volume(self, volume: str, path: str | None) -> None:
        if self._store.peek("persistentvolumes", volume) is not None:
            self._store.delete("persistentvolumes", volume)
        if self._create_folders and path and path.startswith(self._root):
            shutil.rmtree(path, ignore_errors=True)
