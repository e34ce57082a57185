"""The simulated DaemonSet and StatefulSet controllers (apps/v1).

DaemonSets run one pod per eligible node (nodeSelector, required node affinity, taints the
template does not tolerate) and replace pods of an older template one at a time
(RollingUpdate) or only when deleted (OnDelete). StatefulSets run pods ``<name>-0`` ..
``<name>-(n-1)`` with stable hostnames, create a PVC per volumeClaimTemplate and ordinal
first, start each pod only once the lower ones are Running and Ready (OrderedReady, with
"ready" read as Running; the Parallel policy skips the wait), and scale down from the highest ordinal, one at a time.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from .deployments import template_hash
from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .predicates import matches_node_selector, untolerated_taint
from .replicasets import is_active
from .util import controller_uid, owner_reference, pod_is_ready

log = logging.getLogger(__name__)

HASH_LABEL = "controller-revision-hash"


def _up(pod: dict[str, Any]) -> bool:
    """Return whether a pod is Running (the simulated kubelet's readiness lags behind)."""
    return (pod.get("status") or {}).get("phase") == "Running"


def _pod_from(owner: dict[str, Any], kind: str, template_hash_: str) -> dict[str, Any]:
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    meta = template.setdefault("metadata", {})
    meta.pop("name", None)
    meta["namespace"] = owner["metadata"].get("namespace") or "default"
    meta.setdefault("labels", {})[HASH_LABEL] = template_hash_
    meta["ownerReferences"] = [owner_reference(owner, "apps/v1", kind)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


class _PodSetController(Controller):
    resource = ""
    kind = ""

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        cluster.subscribe(self.resource, self._on_owner)
        cluster.subscribe("pods", self._on_pod)

    def _on_owner(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if event_type != "DELETED":
            meta = obj.get("metadata") or {}
            self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == self.kind:
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", ref["name"]))

    def _pods(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"].get("uid", "")
        return [
            p
            for p in self._cluster.owned_by("pods", uid)
            if controller_uid(p) == uid and is_active(p)
        ]

    def _create(self, owner: dict[str, Any], pod: dict[str, Any]) -> None:
        try:
            created = self._store.create("pods", pod, namespace=pod["metadata"]["namespace"])
        except Exception as exc:
            self._events.record(
                owner, self.kind, "Warning", "FailedCreate", f"Error creating: {exc}", self.name
            )
            return
        msg = f"Created pod: {created['metadata']['name']}"
        self._events.record(owner, self.kind, "Normal", "SuccessfulCreate", msg, self.name)

    def _delete(self, owner: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        try:
            self._store.delete("pods", name, namespace=pod["metadata"].get("namespace"))
        except Exception as exc:
            log.debug("delete pod %s failed: %s", name, exc)
            return
        msg = f"Deleted pod: {name}"
        self._events.record(owner, self.kind, "Normal", "SuccessfulDelete", msg, self.name)

    def _patch_status(self, owner: dict[str, Any], key: Key, status: dict[str, Any]) -> None:
        old = owner.get("status") or {}
        if any(old.get(k) != v for k, v in status.items()):
            self._store.patch(
                self.resource, key[1], {"status": status}, namespace=key[0], subresource="status"
            )


class DaemonSetController(_PodSetController):
    """Reconciles DaemonSets: a pod on each eligible node, rolled when the template changes."""

    name = "daemonset-controller"
    resource, kind = "daemonsets.apps", "DaemonSet"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__(store, cluster, recorder, speed)
        cluster.subscribe("nodes", self._on_node)

    def _on_node(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for key in list(self._cluster.objects[self.resource]):
            self.enqueue(key)

    def reconcile(self, key: Key) -> None:
        """Create, delete or replace pods so each eligible node runs one current pod."""
        ds = self._cluster.objects[self.resource].get(key)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds.get("spec") or {}
        template_spec = (spec.get("template") or {}).get("spec") or {}
        current = template_hash(spec.get("template") or {})
        eligible = {
            name: node
            for (_, name), node in self._cluster.objects["nodes"].items()
            if matches_node_selector(template_spec, node["metadata"].get("labels") or {}, name)
            and untolerated_taint(
                template_spec.get("tolerations") or [], (node.get("spec") or {}).get("taints") or []
            )
            is None
        }
        by_node: dict[str, list[dict[str, Any]]] = {}
        for pod in self._pods(ds):
            by_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
        for node_name, pods in by_node.items():
            extra = pods if node_name not in eligible else pods[1:]
            for pod in extra:
                self._delete(ds, pod)
        for node_name in eligible:
            if node_name not in by_node:
                pod = _pod_from(ds, self.kind, current)
                pod["metadata"]["generateName"] = f"{ds['metadata']['name']}-"
                pod["spec"]["nodeName"] = node_name
                self._create(ds, pod)
        self._roll(ds, spec, current, by_node, eligible)
        self._write_status(ds, key, current, len(eligible))

    def _roll(
        self,
        ds: dict[str, Any],
        spec: dict[str, Any],
        current: str,
        by_node: dict[str, list[dict[str, Any]]],
        eligible: dict[str, Any],
    ) -> None:
        """RollingUpdate: replace one outdated pod once every other pod is running."""
        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return
        pods = [p[0] for n, p in by_node.items() if n in eligible and p]
        outdated = [p for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) != current]
        if outdated and all(_up(p) for p in pods) and len(pods) == len(eligible):
            self._delete(ds, outdated[0])

    def _write_status(self, ds: dict[str, Any], key: Key, current: str, desired: int) -> None:
        pods = self._pods(ds)
        updated = [p for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) == current]
        ready = sum(1 for p in pods if pod_is_ready(p))
        status = {
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": len(updated),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        self._patch_status(ds, key, status)


class StatefulSetController(_PodSetController):
    """Reconciles StatefulSets: ordered pods with stable names, hostnames and PVCs."""

    name = "statefulset-controller"
    resource, kind = "statefulsets.apps", "StatefulSet"

    def reconcile(self, key: Key) -> None:
        """Create the lowest missing ordinal (after the ones below are ready), or remove the
        highest one above ``replicas``; then write status."""
        sts = self._cluster.objects[self.resource].get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        parallel = spec.get("podManagementPolicy") == "Parallel"
        current = template_hash(spec.get("template") or {})
        pods = {p["metadata"]["name"]: p for p in self._pods(sts)}
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            if pod_name in pods:
                if not parallel and not _up(pods[pod_name]):
                    break
                continue
            self._create_ordinal(sts, ordinal, current)
            if not parallel:
                break
        above = sorted(
            (p for n, p in pods.items() if _ordinal(n, name) >= replicas),
            key=lambda p: -_ordinal(p["metadata"]["name"], name),
        )
        for pod in above[: len(above) if parallel else 1]:
            self._delete(sts, pod)
        self._write_status(sts, key, current)

    def _create_ordinal(self, sts: dict[str, Any], ordinal: int, current: str) -> None:
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        ns = sts["metadata"].get("namespace") or "default"
        pod = _pod_from(sts, self.kind, current)
        pod["metadata"]["name"] = f"{name}-{ordinal}"
        pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = f"{name}-{ordinal}"
        pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = str(ordinal)
        pod["spec"]["hostname"] = f"{name}-{ordinal}"
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        volumes = pod["spec"].setdefault("volumes", [])
        for claim in spec.get("volumeClaimTemplates") or []:
            tpl = claim.get("metadata", {}).get("name", "data")
            claim_name = f"{tpl}-{name}-{ordinal}"
            if self._store.peek("persistentvolumeclaims", claim_name, namespace=ns) is None:
                pvc = {
                    "metadata": {
                        "name": claim_name,
                        "labels": dict((spec.get("selector") or {}).get("matchLabels") or {}),
                    },
                    "spec": copy.deepcopy(claim.get("spec") or {}),
                    "status": {"phase": "Bound"},
                }
                self._store.create("persistentvolumeclaims", pvc, namespace=ns)
            volumes.append({"name": tpl, "persistentVolumeClaim": {"claimName": claim_name}})
        if not volumes:
            pod["spec"].pop("volumes")
        self._create(sts, pod)

    def _write_status(self, sts: dict[str, Any], key: Key, current: str) -> None:
        pods = self._pods(sts)
        ready = sum(1 for p in pods if pod_is_ready(p))
        updated = sum(1 for p in pods if p["metadata"]["labels"].get(HASH_LABEL) == current)
        status = {
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "currentRevision": f"{sts['metadata']['name']}-{current}",
            "updateRevision": f"{sts['metadata']['name']}-{current}",
            "observedGeneration": sts["metadata"].get("generation", 1),
        }
        self._patch_status(sts, key, status)


def _ordinal(pod_name: str, set_name: str) -> int:
    suffix = pod_name[len(set_name) + 1 :]
    return int(suffix) if suffix.isdigit() else -1
