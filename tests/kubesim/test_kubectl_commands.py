"""The imperative kubectl commands platform engineers use, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesim import tls as tls_mod
from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import kubectl

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("kubectl-commands") / "kubeconfig"
    server = KubeSim(tls=True, kubeconfig=str(path), speed=20).start()
    yield server
    server.stop()


def test_every_create_subcommand(sim: KubeSim, tmp_path: Path) -> None:
    ns = ["-n", "cmds"]
    assert "namespace/cmds created" in kubectl(sim, "create", "namespace", "cmds")
    commands = [
        ["deployment", "web", "--image=nginx"],
        ["job", "once", "--image=busybox", "--", "echo", "hi"],
        ["cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *"],
        ["job", "from-cron", "--from=cronjob/tick"],
        ["configmap", "cm", "--from-literal=a=b"],
        ["secret", "generic", "sec", "--from-literal=a=b"],
        [
            "secret",
            "docker-registry",
            "reg",
            "--docker-server=r",
            "--docker-username=u",
            "--docker-password=p",
        ],
        ["service", "clusterip", "svc", "--tcp=80:8080"],
        ["service", "nodeport", "np", "--tcp=80:8080"],
        ["serviceaccount", "bot"],
        ["role", "reader", "--verb=get", "--resource=pods"],
        ["rolebinding", "reader", "--role=reader", "--serviceaccount=cmds:bot"],
        ["quota", "q", "--hard=pods=10"],
    ]
    for args in commands:
        assert "created" in kubectl(sim, "create", *args, *ns)
    for args in (
        ["clusterrole", "nodes-reader", "--verb=get", "--resource=nodes"],
        ["clusterrolebinding", "nodes-reader", "--clusterrole=nodes-reader", "--user=bob"],
        ["priorityclass", "high", "--value=1000"],
    ):
        assert "created" in kubectl(sim, "create", *args)
    material = tls_mod.generate()
    (tmp_path / "tls.crt").write_text(material.cert_pem)
    (tmp_path / "tls.key").write_text(material.key_pem)
    tls = [
        "secret",
        "tls",
        "cert",
        f"--cert={tmp_path / 'tls.crt'}",
        f"--key={tmp_path / 'tls.key'}",
    ]
    assert "created" in kubectl(sim, "create", *tls, *ns)
    assert kubectl(sim, "get", "secret", "sec", *ns, "-o", "jsonpath={.data.a}") == "Yg=="
    assert kubectl(sim, "get", "deploy", "web", *ns, "-o", "jsonpath={.spec.replicas}") == "1"


def test_run_expose_scale_rollout_label_annotate_wait_delete(sim: KubeSim) -> None:
    assert "pod/solo created" in kubectl(sim, "run", "solo", "--image=busybox")
    kubectl(sim, "wait", "--for=condition=Ready", "pod/solo", "--timeout=30s")
    kubectl(sim, "create", "deployment", "app", "--image=nginx")
    assert "scaled" in kubectl(sim, "scale", "deployment", "app", "--replicas=2")
    assert "image updated" in kubectl(sim, "set", "image", "deployment/app", "nginx=nginx:2")
    assert "successfully rolled out" in kubectl(
        sim, "rollout", "status", "deployment/app", "--timeout=30s"
    )
    history = kubectl(sim, "rollout", "history", "deployment/app")
    assert "REVISION" in history and "2" in history
    assert "rolled back" in kubectl(sim, "rollout", "undo", "deployment/app")
    assert "restarted" in kubectl(sim, "rollout", "restart", "deployment/app")
    assert "labeled" in kubectl(sim, "label", "deployment", "app", "tier=web")
    assert "annotated" in kubectl(sim, "annotate", "deployment", "app", "owner=ops")
    assert "exposed" in kubectl(sim, "expose", "deployment", "app", "--port=80")
    assert "condition met" in kubectl(
        sim, "wait", "--for=condition=Available", "deployment/app", "--timeout=30s"
    )
    assert "deleted" in kubectl(sim, "delete", "deployment", "app", "--wait")
    assert "deleted" in kubectl(sim, "delete", "pod", "solo", "--wait")
