"""The simulated Deployment controller (apps/v1): rolls ReplicaSets.

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``.  RollingUpdate
honours maxSurge/maxUnavailable (default 25% each) using the same arithmetic as Kubernetes;
Recreate scales old ReplicaSets to zero before the new one comes up.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import zlib
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .util import controller_uid, now_iso, owner_reference

log = logging.getLogger(__name__)

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict[str, Any], collisions: int = 0) -> str:
    """Return a stable pod-template-hash for `template` (Kubernetes-style safe alphabet)."""
    clean = copy.deepcopy(template)
    ((clean.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    value = zlib.crc32(json.dumps([clean, collisions], sort_keys=True).encode())
    out = ""
    while True:
        value, digit = divmod(value, len(_SAFE))
        out += _SAFE[digit]
        if not value:
            break
    return out


def resolve_percent(value: Any, total: int, *, round_up: bool) -> int:
    """Return an int-or-percent value ("25%" or 2) resolved against `total`."""
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def _replicas(obj: dict[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _status(obj: dict[str, Any], field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


class DeploymentController(Controller):
    """Reconciles Deployments through their ReplicaSets."""

    name = "deployment-controller"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        self._progress: dict[str, float] = {}  # deployment uid -> loop time of last progress
        self._seen: dict[str, tuple[int, int]] = {}  # uid -> (updated, available) last seen
        cluster.subscribe("deployments.apps", self._on_deploy)
        cluster.subscribe("replicasets.apps", self._on_rs)

    def _on_deploy(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None):
        meta = obj.get("metadata") or {}
        if event_type == "DELETED":
            self._progress.pop(meta.get("uid", ""), None)
            self._seen.pop(meta.get("uid", ""), None)
            return
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_rs(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", ref["name"]))

    def reconcile(self, key: Key) -> None:
        """Create the new ReplicaSet if needed, scale new and old ones, write status."""
        deploy = self._cluster.objects["deployments.apps"].get(key)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return
        uid = deploy["metadata"].get("uid", "")
        spec = deploy.get("spec") or {}
        owned = [
            r for r in self._cluster.owned_by("replicasets.apps", uid) if controller_uid(r) == uid
        ]
        template = spec.get("template") or {}
        want_hash = template_hash(template)
        new_rs = next(
            (
                r
                for r in owned
                if ((r["metadata"].get("labels") or {}).get(HASH_LABEL)) == want_hash
            ),
            None,
        )
        old_rs = sorted(
            (r for r in owned if r is not new_rs),
            key=lambda r: r["metadata"].get("creationTimestamp") or "",
        )
        replicas = _replicas(deploy)
        if spec.get("paused"):
            self._write_status(key, deploy, new_rs, old_rs)
            return
        strategy = spec.get("strategy") or {}
        if new_rs is None:
            if strategy.get("type") == "Recreate" and any(
                _replicas(r) or _status(r, "replicas") for r in old_rs
            ):
                new_rs = None  # old pods must go first
            else:
                new_rs = self._create_rs(deploy, want_hash, old_rs, 0)
                if new_rs is None:
                    return
        if strategy.get("type") == "Recreate":
            self._recreate(deploy, new_rs, old_rs, replicas)
        else:
            self._rolling(deploy, new_rs, old_rs, replicas, strategy)
        self._cleanup(deploy, old_rs)
        self._write_status(key, deploy, self._fresh(new_rs), [self._fresh(r) for r in old_rs])

    def _fresh(self, rs: dict[str, Any] | None) -> dict[str, Any] | None:
        if rs is None:
            return None
        return self._cluster.objects["replicasets.apps"].get(
            (rs["metadata"].get("namespace") or "", rs["metadata"]["name"]), rs
        )

    def _recreate(
        self,
        deploy: dict[str, Any],
        new_rs: dict[str, Any] | None,
        old_rs: list[dict[str, Any]],
        replicas: int,
    ) -> None:
        for rs in old_rs:
            if _replicas(rs):
                self._scale(deploy, rs, 0)
        if any(_status(self._fresh(r) or r, "replicas") for r in old_rs):
            return  # wait for old pods to be gone
        if new_rs is None:
            new_rs = self._create_rs(
                deploy, template_hash(deploy["spec"]["template"]), old_rs, replicas
            )
        elif _replicas(new_rs) != replicas:
            self._scale(deploy, new_rs, replicas)

    def _rolling(
        self,
        deploy: dict[str, Any],
        new_rs: dict[str, Any],
        old_rs: list[dict[str, Any]],
        replicas: int,
        strategy: dict[str, Any],
    ) -> None:
        params = strategy.get("rollingUpdate") or {}
        surge = resolve_percent(params.get("maxSurge"), replicas, round_up=True)
        unavailable = resolve_percent(params.get("maxUnavailable"), replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # Kubernetes forbids both zero; it would never progress
        active_old = [r for r in old_rs if _replicas(r) > 0]
        if not active_old:
            if _replicas(new_rs) != replicas:
                self._scale(deploy, new_rs, replicas)
            return
        # Scale up the new ReplicaSet within the surge budget.
        total = sum(_replicas(r) for r in active_old) + _replicas(new_rs)
        allowed = replicas + surge
        if total < allowed and _replicas(new_rs) < replicas:
            target = min(replicas, _replicas(new_rs) + allowed - total)
            self._scale(deploy, new_rs, target)
            new_rs = self._fresh(new_rs) or new_rs
        # Scale down old ReplicaSets as far as availability allows.
        min_available = replicas - unavailable
        all_pods = sum(_status(r, "replicas") for r in active_old) + _status(new_rs, "replicas")
        new_unavailable = _replicas(new_rs) - _status(new_rs, "availableReplicas")
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return
        # First drop old pods that are not available anyway.
        for rs in active_old:
            if budget <= 0:
                break
            unhealthy = _replicas(rs) - _status(rs, "availableReplicas")
            cut = min(budget, max(0, unhealthy))
            if cut:
                self._scale(deploy, rs, _replicas(rs) - cut)
                budget -= cut
        active_old = [self._fresh(r) or r for r in active_old]
        available = sum(_status(r, "availableReplicas") for r in active_old) + _status(
            new_rs, "availableReplicas"
        )
        budget = available - min_available
        for rs in active_old:
            if budget <= 0:
                break
            cut = min(budget, _replicas(rs))
            if cut:
                self._scale(deploy, rs, _replicas(rs) - cut)
                budget -= cut

    def _create_rs(
        self, deploy: dict[str, Any], pod_hash: str, old_rs: list[dict[str, Any]], replicas: int
    ) -> dict[str, Any] | None:
        meta = deploy["metadata"]
        namespace = meta.get("namespace") or "default"
        template = copy.deepcopy(deploy["spec"].get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        revision = 1 + max(
            (int((r["metadata"].get("annotations") or {}).get(REVISION, 0) or 0) for r in old_rs),
            default=0,
        )
        name = f"{meta['name']}-{pod_hash}"
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(_replicas(deploy)),
                    "deployment.kubernetes.io/max-replicas": str(_replicas(deploy) + 1),
                },
                "ownerReferences": [owner_reference(deploy, "apps/v1", "Deployment")],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = self._store.create("replicasets.apps", rs, namespace=namespace)
        except Exception as exc:
            if getattr(exc, "code", None) == 409:
                return self._cluster.objects["replicasets.apps"].get((namespace, name))
            raise
        self._progress[meta.get("uid", "")] = self._loop.time()
        try:
            self._store.patch(
                "deployments.apps",
                meta["name"],
                {"metadata": {"annotations": {REVISION: str(revision)}}},
                namespace=namespace,
            )
        except Exception as exc:
            log.debug("revision annotation not written: %s", exc)
        if replicas:
            self._events.record(
                deploy,
                "Deployment",
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {replicas}",
                COMPONENT,
            )
        return created

    def _scale(self, deploy: dict[str, Any], rs: dict[str, Any], replicas: int) -> None:
        current = _replicas(rs)
        if current == replicas:
            return
        meta = rs["metadata"]
        self._store.patch(
            "replicasets.apps",
            meta["name"],
            {
                "metadata": {
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": str(_replicas(deploy))
                    }
                },
                "spec": {"replicas": replicas},
            },
            namespace=meta.get("namespace"),
        )
        self._progress[deploy["metadata"].get("uid", "")] = self._loop.time()
        direction = "up" if replicas > current else "down"
        self._events.record(
            deploy,
            "Deployment",
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {meta['name']} from {current} to {replicas}",
            COMPONENT,
        )

    def _cleanup(self, deploy: dict[str, Any], old_rs: list[dict[str, Any]]) -> None:
        limit = (deploy.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = [r for r in old_rs if _replicas(r) == 0 and _status(r, "replicas") == 0]
        for rs in idle[: max(0, len(idle) - int(limit))]:
            try:
                self._store.delete(
                    "replicasets.apps",
                    rs["metadata"]["name"],
                    namespace=rs["metadata"].get("namespace"),
                )
            except Exception as exc:
                log.debug("cleanup of %s failed: %s", rs["metadata"]["name"], exc)

    def _write_status(
        self,
        key: Key,
        deploy: dict[str, Any],
        new_rs: dict[str, Any] | None,
        old_rs: list[dict[str, Any]],
    ) -> None:
        spec = deploy.get("spec") or {}
        replicas = _replicas(deploy)
        every = [r for r in [new_rs, *old_rs] if r is not None]
        total = sum(_status(r, "replicas") for r in every)
        ready = sum(_status(r, "readyReplicas") for r in every)
        available = sum(_status(r, "availableReplicas") for r in every)
        updated = _status(new_rs, "replicas") if new_rs else 0
        strategy = spec.get("strategy") or {}
        unavailable_budget = (
            0
            if strategy.get("type") == "Recreate"
            else resolve_percent(
                (strategy.get("rollingUpdate") or {}).get("maxUnavailable"),
                replicas,
                round_up=False,
            )
        )
        old = deploy.get("status") or {}
        conditions = copy.deepcopy(old.get("conditions") or [])
        stamp = now_iso()
        if available >= replicas - unavailable_budget:
            _cond(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                stamp,
            )
        else:
            _cond(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                stamp,
            )
        name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (
            new_rs is not None
            and updated == replicas
            and _status(new_rs, "availableReplicas") == replicas
            and total == replicas
        )
        uid = deploy["metadata"].get("uid", "")
        if self._seen.get(uid) != (updated, available):
            # Any new pod coming up or becoming available counts as progress.
            self._seen[uid] = (updated, available)
            self._progress[uid] = self._loop.time()
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            _cond(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                stamp,
            )
        else:
            started = self._progress.setdefault(uid, self._loop.time())
            elapsed = (self._loop.time() - started) * self._speed
            if deadline is not None and elapsed >= float(deadline):
                if _cond(
                    conditions,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                    stamp,
                ):
                    self._events.record(
                        deploy,
                        "Deployment",
                        "Warning",
                        "ProgressDeadlineExceeded",
                        f'Deployment "{deploy["metadata"]["name"]}" has timed out progressing.',
                        COMPONENT,
                    )
            else:
                _cond(
                    conditions,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{name}" is progressing.',
                    stamp,
                )
                if deadline is not None:
                    self.enqueue_after(key, (float(deadline) - elapsed) / self._speed + 0.01)
        status: dict[str, Any] = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": conditions,
        }
        if replicas - available > 0:
            status["unavailableReplicas"] = replicas - available
        else:
            status["unavailableReplicas"] = None  # merge patch: remove the field
        if any(old.get(k) != v for k, v in status.items()):
            self._store.patch(
                "deployments.apps",
                key[1],
                {"status": status},
                namespace=key[0],
                subresource="status",
            )


def _cond(
    conditions: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str, stamp: str
) -> bool:
    """Set a Deployment condition; lastUpdateTime moves on any change, lastTransitionTime only
    when the status flips.  Returns True if anything changed."""
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        if (cond.get("status"), cond.get("reason"), cond.get("message")) == (
            status,
            reason,
            message,
        ):
            return False
        if cond.get("status") != status:
            cond["lastTransitionTime"] = stamp
        cond.update(status=status, reason=reason, message=message, lastUpdateTime=stamp)
        return True
    conditions.append(
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    return True
