"""The InstanceType custom resource: its API group, its definition, its objects, and the
default instance type every cluster gets (and that work without a named type uses)."""

from typing import Any

from compute.kube.labels import MANAGED_LABELS, PREFIX

GROUP = PREFIX
VERSION = "v1alpha1"
PLURAL = "instancetypes"
AZURE_API_VERSION = "amlarc.azureml.com/v1alpha1"

DEFAULT_INSTANCE_TYPE: dict[str, Any] = {
    "name": "defaultinstancetype",
    "nodeSelector": {},
    "resources": {
        "requests": {"cpu": "100m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}


def instance_type_crd() -> dict:
    """The CustomResourceDefinition of InstanceType (cluster-scoped)."""
    quantity = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    resources = {"type": "object", "additionalProperties": quantity}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": MANAGED_LABELS},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "plural": PLURAL,
                "singular": "instancetype",
                "kind": "InstanceType",
                "listKind": "InstanceTypeList",
                "shortNames": ["it"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "nodeSelector": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "resources": {
                                            "type": "object",
                                            "properties": {
                                                "requests": resources,
                                                "limits": resources,
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def instance_type_object(name: str, node_selector: dict, requests: dict, limits: dict) -> dict:
    """An InstanceType object as the cluster stores it."""
    spec: dict = {"resources": {"requests": requests, "limits": limits}}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InstanceType",
        "metadata": {"name": name, "labels": MANAGED_LABELS},
        "spec": spec,
    }
