"""A cluster that lost what the portal made in it: recreated, or restarted with an empty
store (an API server on an in-memory store, a control plane restored from nothing).

The sync notices it on every re-list, by the cluster's identity (the uid of its
``kube-system`` namespace changed) and by what is missing (the extension's InstanceType
definition, the namespaces of ready compute targets). What is gone is marked so on its
rows, then put back automatically from the portal's own records: the extension with its
stored settings, every instance type the portal knew (so no target's allowed list changes),
and each target's namespace, quota and outputs claim (``operations.restore_lost``). Jobs
that ran there fail when the watchers re-list and find their objects gone.
"""

import logging
from dataclasses import dataclass, field

from compute.models import Cluster, ComputeTarget, ExtensionStatus, InstanceType, TargetStatus
from compute.notify import broadcast_cluster, broadcast_target

log = logging.getLogger(__name__)

GONE = "the cluster no longer has it (recreated or restarted empty)"


@dataclass
class Lost:
    recreated: bool = False  # the cluster's identity changed
    extension: bool = False  # the extension is recorded installed but its definition is gone
    targets: list[ComputeTarget] = field(default_factory=list)  # ready targets, namespace gone


def lost_objects(
    cluster: Cluster, namespaces: dict[str, str], remote_types: list | None
) -> Lost | None:
    """What the portal made in ``cluster`` that its latest listing no longer shows (None
    when nothing is missing). ``namespaces``: {name: uid} as listed; ``remote_types``: the
    listed InstanceType objects, None when their definition does not exist."""
    uid = namespaces.get("kube-system", "")
    lost = Lost(
        recreated=bool(cluster.cluster_uid and uid and uid != cluster.cluster_uid),
        extension=cluster.extension_installed and remote_types is None,
        targets=[
            t
            for t in cluster.targets.select_related("workspace")
            if t.status == TargetStatus.SUCCEEDED and t.namespace not in namespaces
        ],
    )
    if not (lost.recreated or lost.extension or lost.targets):
        return None
    return lost


def mark_lost(cluster: Cluster, lost: Lost) -> None:
    """Says on the rows what is gone (inside the sync's transaction)."""
    log.warning(
        "cluster %s lost the portal's objects (recreated: %s, extension: %s, namespaces: %s); "
        "putting them back",
        cluster.name,
        lost.recreated,
        lost.extension,
        ", ".join(t.namespace for t in lost.targets) or "none",
    )
    if lost.extension:
        cluster.extension_status = ExtensionStatus.NOT_INSTALLED
        cluster.extension_steps = [
            {
                "title": "Extension",
                "state": "failed",
                "message": f"The extension is gone: {GONE}. Installing it again.",
            }
        ]
        cluster.save(update_fields=["extension_status", "extension_steps"])
        InstanceType.objects.filter(cluster=cluster).update(
            sync_state="pending", sync_message=f"Gone from the cluster: {GONE}; writing it again."
        )
        broadcast_cluster(cluster, "extension")
    for target in lost.targets:
        target.status = TargetStatus.CREATING
        target.status_reason = f"Namespace {target.namespace} is gone: {GONE}. Creating it again."
        target.save(update_fields=["status", "status_reason"])
        broadcast_target(target)
