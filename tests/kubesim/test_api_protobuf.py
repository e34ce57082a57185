"""Protobuf request bodies: the wire decoder on hand-encoded messages, and over HTTP."""

from __future__ import annotations

import urllib.request

import orjson
import pytest

from kubesim.errors import ApiError
from kubesim.protobuf import CONTENT_TYPE, decode
from kubesim.protobuf.wire import read_varint
from kubesim.server import KubeSim


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def s(number: int, text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return tag(number, 2) + varint(len(data)) + data


def v(number: int, value: int) -> bytes:
    return tag(number, 0) + varint(value)


def entry(number: int, key: str, value: bytes) -> bytes:
    return s(number, s(1, key) + s(2, value))


def envelope(api_version: str, kind: str, body: bytes) -> bytes:
    return b"k8s\x00" + s(1, s(1, api_version) + s(2, kind)) + s(2, body)


def test_varints_round_trip_including_negative_int32() -> None:
    for n in (0, 1, 127, 128, 300, 2**40):
        assert read_varint(varint(n), 0) == (n, len(varint(n)))
    minus_one = varint(-1)
    assert len(minus_one) == 10


def test_a_deployment_decodes_to_its_json_form() -> None:
    meta = s(1, "web") + entry(11, "app", b"web") + s(2, "") + s(8, b"")
    container = s(1, "nginx") + s(2, "nginx:1.27") + s(3, "sleep") + s(3, "10")
    limits = s(1, s(1, "cpu") + s(2, s(1, "500m")))
    container += s(8, limits)
    template = s(1, s(11, s(1, "app") + s(2, "web"))) + s(2, s(2, container) + s(3, "Always"))
    spec = v(1, 0) + s(2, entry(1, "app", b"web")) + s(3, template) + v(7, 0)
    spec += s(
        4, s(1, "RollingUpdate") + s(2, s(1, v(1, 0) + v(2, 1)) + s(2, v(1, 1) + s(3, "25%")))
    )
    obj = decode(envelope("apps/v1", "Deployment", s(1, meta) + s(2, spec)))
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    # Go's zero values (empty strings, zero Time, paused=false) are left out as JSON does;
    # replicas is a pointer, so its explicit 0 stays.
    assert obj["metadata"] == {"name": "web", "labels": {"app": "web"}}
    assert obj["spec"]["replicas"] == 0 and "paused" not in obj["spec"]
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    c = obj["spec"]["template"]["spec"]["containers"][0]
    assert c == {
        "name": "nginx",
        "image": "nginx:1.27",
        "command": ["sleep", "10"],
        "resources": {"limits": {"cpu": "500m"}},
    }
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": "25%"}


def test_secret_bytes_become_base64_and_rbac_core_group_is_kept() -> None:
    secret = decode(envelope("v1", "Secret", s(1, s(1, "s")) + entry(2, "k", b"\x00\x01")))
    assert secret["data"] == {"k": "AAE="}
    rule = s(1, "get") + s(2, "") + s(3, "pods")
    role = decode(envelope("rbac.authorization.k8s.io/v1", "Role", s(1, s(1, "r")) + s(2, rule)))
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]


def test_unknown_kinds_and_garbage_are_refused_with_a_status() -> None:
    with pytest.raises(ApiError) as err:
        decode(envelope("example.com/v1", "Widget", b""))
    assert err.value.code == 415
    with pytest.raises(ApiError) as err:
        decode(b"k8s\x00" + b"\x0a\xff")
    assert err.value.code == 400 and "could not be decoded" in err.value.message


def test_a_protobuf_create_over_http(bare_kubesim: KubeSim) -> None:
    body = envelope("v1", "ConfigMap", s(1, s(1, "pb-cm")) + entry(2, "a", b"b"))
    req = urllib.request.Request(
        f"{bare_kubesim.url}/api/v1/namespaces/default/configmaps",
        data=body,
        method="POST",
        headers={
            "Content-Type": CONTENT_TYPE,
            "Accept": f"{CONTENT_TYPE},application/json",
            "Authorization": f"Bearer {bare_kubesim.token}",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201 and resp.headers["Content-Type"].startswith("application/json")
        created = orjson.loads(resp.read())
    assert created["data"] == {"a": "b"} and created["metadata"]["uid"]
    bare_kubesim.call(bare_kubesim.store.delete, "configmaps", "pb-cm")
