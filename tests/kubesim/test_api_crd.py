"""CustomResourceDefinitions and custom objects in both scopes."""

from __future__ import annotations

import pytest
from kubernetes import client


def _crd(group: str, plural: str, kind: str, scope: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }


def test_namespaced_custom_objects(k8s_api_client: client.ApiClient, namespace: str) -> None:
    ext = client.ApiextensionsV1Api(k8s_api_client)
    custom = client.CustomObjectsApi(k8s_api_client)
    crd = ext.create_custom_resource_definition(
        _crd("ns.example.com", "gizmos", "Gizmo", "Namespaced")
    )
    conds = {c.type: c.status for c in crd.status.conditions}
    assert conds["Established"] == "True"
    assert crd.status.accepted_names.kind == "Gizmo"
    res = client.ApisApi(k8s_api_client).get_api_versions()
    assert "ns.example.com" in [g.name for g in res.groups]
    body = {
        "apiVersion": "ns.example.com/v1",
        "kind": "Gizmo",
        "metadata": {"name": "g1", "labels": {"k": "v"}},
        "spec": {"size": 1},
    }
    made = custom.create_namespaced_custom_object("ns.example.com", "v1", namespace, "gizmos", body)
    assert made["metadata"]["generation"] == 1
    patched = custom.patch_namespaced_custom_object(
        "ns.example.com", "v1", namespace, "gizmos", "g1", {"spec": {"size": 2}}
    )
    assert patched["spec"]["size"] == 2 and patched["metadata"]["generation"] == 2
    status = custom.patch_namespaced_custom_object_status(
        "ns.example.com", "v1", namespace, "gizmos", "g1", {"status": {"ready": True}}
    )
    assert status["status"] == {"ready": True}
    listed = custom.list_namespaced_custom_object(
        "ns.example.com", "v1", namespace, "gizmos", label_selector="k=v"
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["g1"]
    everywhere = custom.list_cluster_custom_object("ns.example.com", "v1", "gizmos")
    assert len(everywhere["items"]) == 1
    ext.delete_custom_resource_definition("gizmos.ns.example.com")
    with pytest.raises(client.ApiException) as err:
        custom.list_namespaced_custom_object("ns.example.com", "v1", namespace, "gizmos")
    assert err.value.status == 404


def test_cluster_scoped_custom_objects(k8s_api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(k8s_api_client)
    custom = client.CustomObjectsApi(k8s_api_client)
    ext.create_custom_resource_definition(_crd("cl.example.com", "racks", "Rack", "Cluster"))
    custom.create_cluster_custom_object(
        "cl.example.com",
        "v1",
        "racks",
        {"apiVersion": "cl.example.com/v1", "kind": "Rack", "metadata": {"name": "r1"}},
    )
    got = custom.get_cluster_custom_object("cl.example.com", "v1", "racks", "r1")
    assert got["kind"] == "Rack" and "namespace" not in got["metadata"]
    custom.delete_cluster_custom_object("cl.example.com", "v1", "racks", "r1")
    with pytest.raises(client.ApiException) as err:
        custom.get_cluster_custom_object("cl.example.com", "v1", "racks", "r1")
    assert err.value.status == 404
    ext.delete_custom_resource_definition("racks.cl.example.com")


def test_invalid_crd_rejected(k8s_api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(k8s_api_client)
    bad = _crd("bad.example.com", "things", "Thing", "Namespaced")
    bad["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(client.ApiException) as err:
        ext.create_custom_resource_definition(bad)
    assert err.value.status == 422
