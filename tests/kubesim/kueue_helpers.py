"""Builders and waits for the Kueue tests: flavors, queues and queued Jobs over HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client

G, V = "kueue.x-k8s.io", "v1beta2"
VIS = "visibility.kueue.x-k8s.io"
QUEUE = "kueue.x-k8s.io/queue-name"
PRIORITY = "kueue.x-k8s.io/priority-class"


def uid(prefix: str) -> str:
    """Return a name unique to this test run."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(fn: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Return ``fn()``'s first truthy value, polling; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


class Kueue:
    """The Kueue objects of one test, created through the official client."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.co = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.namespace = namespace

    def flavor(self, name: str, labels: dict | None = None, tolerations: list | None = None):
        spec: dict[str, Any] = {}
        if labels:
            spec["nodeLabels"] = labels
        if tolerations:
            spec["tolerations"] = tolerations
        body = {"apiVersion": f"{G}/{V}", "kind": "ResourceFlavor", "metadata": {"name": name}}
        if spec:
            body["spec"] = spec
        return self.co.create_cluster_custom_object(G, V, "resourceflavors", body)

    def cluster_queue(
        self,
        name: str,
        flavor: str,
        cpu: str,
        *,
        cohort: str = "",
        strategy: str = "BestEffortFIFO",
        borrowing: str | None = None,
        lending: str | None = None,
        within: str = "Never",
        reclaim: str = "Never",
        borrow_within: dict | None = None,
    ) -> dict:
        quota: dict[str, Any] = {"name": "cpu", "nominalQuota": cpu}
        if borrowing is not None:
            quota["borrowingLimit"] = borrowing
        if lending is not None:
            quota["lendingLimit"] = lending
        spec: dict[str, Any] = {
            "namespaceSelector": {},
            "queueingStrategy": strategy,
            "resourceGroups": [
                {"coveredResources": ["cpu"], "flavors": [{"name": flavor, "resources": [quota]}]}
            ],
            "preemption": {"withinClusterQueue": within, "reclaimWithinCohort": reclaim},
        }
        if borrow_within:
            spec["preemption"]["borrowWithinCohort"] = borrow_within
        if cohort:
            spec["cohortName"] = cohort
        body = {"apiVersion": f"{G}/{V}", "kind": "ClusterQueue", "metadata": {"name": name}}
        return self.co.create_cluster_custom_object(G, V, "clusterqueues", {**body, "spec": spec})

    def local_queue(self, name: str, cq: str, namespace: str | None = None) -> dict:
        body = {
            "apiVersion": f"{G}/{V}",
            "kind": "LocalQueue",
            "metadata": {"name": name},
            "spec": {"clusterQueue": cq},
        }
        return self.co.create_namespaced_custom_object(
            G, V, namespace or self.namespace, "localqueues", body
        )

    def priority_class(self, name: str, value: int) -> dict:
        body = {
            "apiVersion": f"{G}/{V}",
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": name},
            "value": value,
        }
        return self.co.create_cluster_custom_object(G, V, "workloadpriorityclasses", body)

    def job(
        self,
        name: str,
        queue: str,
        cpu: str = "1",
        *,
        priority: str = "",
        seconds: float | None = None,
        namespace: str | None = None,
    ) -> Any:
        """Create a Job in ``queue``: runs for ``seconds`` (simulated), or forever."""
        labels = {QUEUE: queue}
        if priority:
            labels[PRIORITY] = priority
        annotations = (
            {"kubesim.io/run-forever": "true"}
            if seconds is None
            else {"kubesim.io/duration": str(seconds)}
        )
        body = {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": annotations},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": "busybox",
                                "resources": {"requests": {"cpu": cpu}},
                            }
                        ],
                    },
                },
            },
        }
        return self.batch.create_namespaced_job(namespace or self.namespace, body)

    def workload_of(self, job: str, namespace: str | None = None) -> dict | None:
        """Return the Workload owned by Job ``job``, or None."""
        items = self.co.list_namespaced_custom_object(
            G, V, namespace or self.namespace, "workloads"
        )["items"]
        for wl in items:
            refs = wl["metadata"].get("ownerReferences") or []
            if any(r.get("kind") == "Job" and r.get("name") == job for r in refs):
                return wl
        return None

    def condition(self, job: str, ctype: str, namespace: str | None = None) -> dict | None:
        """Return condition ``ctype`` of Job ``job``'s Workload, or None."""
        wl = self.workload_of(job, namespace)
        for cond in ((wl or {}).get("status") or {}).get("conditions") or ():
            if cond["type"] == ctype:
                return cond
        return None

    def admitted(self, job: str, namespace: str | None = None) -> bool:
        cond = self.condition(job, "Admitted", namespace)
        return bool(cond and cond["status"] == "True")

    def wait_admitted(self, *jobs: str, namespace: str | None = None) -> None:
        for job in jobs:
            wait_for(lambda j=job: self.admitted(j, namespace), what=f"{job} admitted")

    def suspended(self, job: str, namespace: str | None = None) -> bool:
        return bool(self.batch.read_namespaced_job(job, namespace or self.namespace).spec.suspend)

    def cq_status(self, name: str) -> dict:
        return self.co.get_cluster_custom_object(G, V, "clusterqueues", name).get("status") or {}

    def pending_in_cq(self, cq: str, version: str = "v1beta1") -> list[dict]:
        doc = self.co.get_cluster_custom_object(
            VIS, version, "clusterqueues", f"{cq}/pendingworkloads"
        )
        return doc["items"]

    def pending_in_lq(self, lq: str, version: str = "v1beta1") -> list[dict]:
        doc = self.co.get_namespaced_custom_object(
            VIS, version, self.namespace, "localqueues", f"{lq}/pendingworkloads"
        )
        return doc["items"]


def owner_names(items: list[dict]) -> list[str]:
    """Return the Job names of visibility items, in order."""
    return [i["metadata"]["ownerReferences"][0]["name"] for i in items]
