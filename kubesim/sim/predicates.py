"""Pure scheduling predicates (filters) and the scheduler's failure message.

The filters run in the default scheduler's order and a node reports only the reason of the
first filter it fails, except the resource filter which reports every short resource:

1. NodeUnschedulable  -> "node(s) were unschedulable"
2. TaintToleration    -> "node(s) had untolerated taint {key: value}"
3. NodeAffinity       -> "node(s) didn't match Pod's node affinity/selector"
4. NodeResourcesFit   -> "Too many pods", "Insufficient cpu", "Insufficient <resource>"

The first three cannot be fixed by preempting other pods; the last can (in principle).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .resources import CPU, MEMORY, PODS, Resources

UNSCHEDULABLE = "node(s) were unschedulable"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
TOO_MANY_PODS = "Too many pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def toleration_matches(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Return True when `toleration` tolerates `taint` (Kubernetes Equal/Exists semantics)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        # An empty key with Exists tolerates every taint.
        return True
    if not key:
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(
    tolerations: Iterable[Mapping[str, Any]], taints: Iterable[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """Return the first NoSchedule/NoExecute taint not tolerated, or None."""
    tols = list(tolerations)
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(toleration_matches(t, taint) for t in tols):
            return taint
    return None


def taint_reason(taint: Mapping[str, Any]) -> str:
    """Return the scheduler's wording for an untolerated taint."""
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = expr.get("key", "")
    operator = expr.get("operator", "")
    values = expr.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term selects no node
    if not all(_expression_matches(e, labels) for e in exprs):
        return False
    name_labels = {"metadata.name": node_name}
    return all(_expression_matches(f, name_labels) for f in fields)


def matches_node_selector(
    pod_spec: Mapping[str, Any], labels: Mapping[str, str], node_name: str
) -> bool:
    """Return True when the node satisfies spec.nodeSelector and the required node affinity
    (terms are ORed, expressions within a term ANDed)."""
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    terms = required.get("nodeSelectorTerms") or []
    return any(_term_matches(t, labels, node_name) for t in terms)


def uses_label(pod_spec: Mapping[str, Any], key: str) -> bool:
    """Return True when the pod's selector/affinity mentions label `key` or node fields.

    The scheduler evaluates such pods per node instead of per node group."""
    if key in (pod_spec.get("nodeSelector") or {}):
        return True
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        if term.get("matchFields"):
            return True
        if any(e.get("key") == key for e in term.get("matchExpressions") or []):
            return True
    return False


def static_failure(
    pod_spec: Mapping[str, Any],
    labels: Mapping[str, str],
    taints: Iterable[Mapping[str, Any]],
    unschedulable: bool,
    node_name: str,
) -> str | None:
    """Return the reason the node is infeasible regardless of resources, or None if it fits.

    Such failures cannot be resolved by preemption."""
    tolerations = pod_spec.get("tolerations") or []
    if unschedulable and not any(toleration_matches(t, UNSCHEDULABLE_TAINT) for t in tolerations):
        return UNSCHEDULABLE
    taint = untolerated_taint(tolerations, taints)
    if taint is not None:
        return taint_reason(taint)
    if not matches_node_selector(pod_spec, labels, node_name):
        return AFFINITY
    return None


def resource_failures(
    requests: Resources, allocatable: Resources, requested: Resources
) -> list[str]:
    """Return the NodeResourcesFit reasons (empty when the pod fits).

    `requested` is the sum of requests already bound to the node, including its pod count
    under "pods"."""
    reasons: list[str] = []
    if requested.get(PODS, 0) + 1 > allocatable.get(PODS, 0):
        reasons.append(TOO_MANY_PODS)
    for name, qty in requests.items():
        if name == PODS or qty <= 0:
            continue
        if qty > allocatable.get(name, 0) - requested.get(name, 0):
            reasons.append(f"Insufficient {name}")
    # Kubernetes reports cpu, then memory, then the rest; keep that order stable.
    order = {TOO_MANY_PODS: 0, f"Insufficient {CPU}": 1, f"Insufficient {MEMORY}": 2}
    reasons.sort(key=lambda r: (order.get(r, 3), r))
    return reasons


def fits(requests: Resources, allocatable: Resources, requested: Resources) -> bool:
    """Return True when `requests` fit in allocatable minus requested (fast path)."""
    if requested.get(PODS, 0) + 1 > allocatable.get(PODS, 0):
        return False
    for name, qty in requests.items():
        if name != PODS and qty > 0 and qty > allocatable.get(name, 0) - requested.get(name, 0):
            return False
    return True


def _histogram(counts: Counter[str]) -> str:
    # Kubernetes formats "<count> <reason>" and sorts those strings lexically.
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def fit_error_message(total: int, reasons: Counter[str], unresolvable: int) -> str:
    """Return the FailedScheduling message for a pod that fits none of `total` nodes.

    `reasons` counts each reason over nodes; `unresolvable` is the number of nodes that
    failed a non-resource filter (preemption cannot help there)."""
    if total == 0:
        return "no nodes available to schedule pods"
    msg = f"0/{total} nodes are available: {_histogram(reasons)}."
    preempt: Counter[str] = Counter()
    if unresolvable:
        preempt[NOT_HELPFUL] = unresolvable
    if total - unresolvable:
        preempt[NO_VICTIMS] = total - unresolvable
    return f"{msg} preemption: 0/{total} nodes are available: {_histogram(preempt)}."
