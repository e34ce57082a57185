"""Kueue's CustomResourceDefinitions and the conversion between their served versions.

Current Kueue serves ``kueue.x-k8s.io`` at ``v1beta2`` (storage) and ``v1beta1``
(deprecated); a conversion webhook maps the fields renamed between them. kubesim stores
``v1beta2`` and converts here the fields the simulation uses: a ClusterQueue's
``cohort`` / ``cohortName`` and ``admissionChecks`` / ``admissionChecksStrategy``, a
LocalQueue's ``status.flavorUsage`` / ``status.flavorsUsage``, a Workload's
``priorityClassSource`` + ``priorityClassName`` / ``priorityClassRef``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.resources import ResourceRegistry

GROUP = "kueue.x-k8s.io"
STORAGE = "v1beta2"
SERVED = ("v1beta2", "v1beta1")
WPC_SOURCE = "kueue.x-k8s.io/workloadpriorityclass"
POD_PC_SOURCE = "scheduling.k8s.io/priorityclass"
_SOURCES = {
    WPC_SOURCE: (GROUP, "WorkloadPriorityClass"),
    POD_PC_SOURCE: ("scheduling.k8s.io", "PriorityClass"),
}

# plural, kind, scope, short names, has a status subresource, printer columns
_KINDS = (
    ("resourceflavors", "ResourceFlavor", "Cluster", ("flavor", "flavors", "rf"), False, ()),
    (
        "clusterqueues",
        "ClusterQueue",
        "Cluster",
        ("cq",),
        True,
        (
            ("Cohort", ".spec.cohortName"),
            ("Strategy", ".spec.queueingStrategy"),
            ("Pending Workloads", ".status.pendingWorkloads"),
            ("Admitted Workloads", ".status.admittedWorkloads"),
        ),
    ),
    (
        "localqueues",
        "LocalQueue",
        "Namespaced",
        ("queue", "queues", "lq"),
        True,
        (
            ("ClusterQueue", ".spec.clusterQueue"),
            ("Pending Workloads", ".status.pendingWorkloads"),
            ("Admitted Workloads", ".status.admittedWorkloads"),
        ),
    ),
    (
        "workloads",
        "Workload",
        "Namespaced",
        ("kwl", "kueueworkload", "kueueworkloads"),
        True,
        (
            ("Queue", ".spec.queueName"),
            ("Reserved in", ".status.admission.clusterQueue"),
            ("Admitted", '.status.conditions[?(@.type=="Admitted")].status'),
            ("Finished", '.status.conditions[?(@.type=="Finished")].status'),
        ),
    ),
    ("workloadpriorityclasses", "WorkloadPriorityClass", "Cluster", ("wpc",), False, ()),
)
KEYS = tuple(f"{plural}.{GROUP}" for plural, *_ in _KINDS)


def _columns(columns: tuple[tuple[str, str], ...]) -> list[dict]:
    out = [{"name": n, "type": "string", "jsonPath": p} for n, p in columns]
    out.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return out


def definitions() -> list[dict]:
    """Return the CRD objects of ResourceFlavor, ClusterQueue, LocalQueue, Workload and
    WorkloadPriorityClass as Kueue's manifests declare their names, scope and versions."""
    out = []
    for plural, kind, scope, short, status, columns in _KINDS:
        versions = []
        for name in SERVED:
            version: dict[str, Any] = {
                "name": name,
                "served": True,
                "storage": name == STORAGE,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "additionalPrinterColumns": _columns(columns),
            }
            if status:
                version["subresources"] = {"status": {}}
            if name != STORAGE:
                version["deprecated"] = True
                version["deprecationWarning"] = "This version is deprecated. Use v1beta2 instead."
            versions.append(version)
        out.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": f"{plural}.{GROUP}",
                    "labels": {
                        "app.kubernetes.io/name": "kueue",
                        "control-plane": "controller-manager",
                    },
                },
                "spec": {
                    "group": GROUP,
                    "names": {
                        "plural": plural,
                        "singular": kind.lower(),
                        "kind": kind,
                        "listKind": f"{kind}List",
                        "shortNames": list(short),
                    },
                    "scope": scope,
                    "versions": versions,
                    "conversion": {"strategy": "Webhook"},
                },
            }
        )
    return out


def _version_of(obj: dict) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[2] or STORAGE


def _rename(section: dict | None, old: str, new: str) -> None:
    if isinstance(section, dict) and old in section:
        section[new] = section.pop(old)


def _cluster_queue(obj: dict, target: str) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if target == "v1beta1":
        _rename(spec, "cohortName", "cohort")
        strategy = spec.pop("admissionChecksStrategy", None)
        if isinstance(strategy, dict) and strategy.get("admissionChecks"):
            spec["admissionChecks"] = [r.get("name") for r in strategy["admissionChecks"]]
    else:
        _rename(spec, "cohort", "cohortName")
        checks = spec.pop("admissionChecks", None)
        if checks:
            spec["admissionChecksStrategy"] = {"admissionChecks": [{"name": c} for c in checks]}


def _local_queue(obj: dict, target: str) -> None:
    if target == "v1beta1":
        _rename(obj.get("status"), "flavorsUsage", "flavorUsage")
    else:
        _rename(obj.get("status"), "flavorUsage", "flavorsUsage")


def _workload(obj: dict, target: str) -> None:
    spec, status = obj.get("spec"), obj.get("status")
    if target == "v1beta1":
        ref = spec.pop("priorityClassRef", None) if isinstance(spec, dict) else None
        if isinstance(ref, dict):
            for source, (group, kind) in _SOURCES.items():
                if (ref.get("group"), ref.get("kind")) == (group, kind):
                    spec["priorityClassSource"] = source
            spec["priorityClassName"] = ref.get("name", "")
        _rename(
            status, "accumulatedPastExecutionTimeSeconds", "accumulatedPastExexcutionTimeSeconds"
        )
        return
    if isinstance(spec, dict) and "priorityClassName" in spec:
        name = spec.pop("priorityClassName")
        source = spec.pop("priorityClassSource", WPC_SOURCE)
        if name and source in _SOURCES:
            group, kind = _SOURCES[source]
            spec["priorityClassRef"] = {"group": group, "kind": kind, "name": name}
    _rename(status, "accumulatedPastExexcutionTimeSeconds", "accumulatedPastExecutionTimeSeconds")


_CONVERT = {
    f"clusterqueues.{GROUP}": _cluster_queue,
    f"localqueues.{GROUP}": _local_queue,
    f"workloads.{GROUP}": _workload,
}


def converter(key: str):
    """Return convert(obj, version) for the Kueue resource with store key ``key``."""
    step = _CONVERT.get(key)

    def convert(obj: dict, version: str) -> dict:
        out = {**obj, "apiVersion": f"{GROUP}/{version}"}
        if step is None or _version_of(obj) == version:
            return out
        out = copy.deepcopy(out)
        step(out, version)
        return out

    return convert


def install(store: Any) -> None:
    """Create Kueue's CRDs in ``store`` (unless present) and register their conversions."""
    reg: ResourceRegistry = store.resources
    for crd in definitions():
        key = crd["metadata"]["name"]
        reg.converters[key] = converter(key)
        if store.peek("customresourcedefinitions.apiextensions.k8s.io", key) is None:
            store.create("customresourcedefinitions.apiextensions.k8s.io", crd)
