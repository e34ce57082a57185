"""Drive the real kubectl against the simulator (HTTPS: kubectl sends tokens only over TLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import kubectl, kubectl_path

pytestmark = pytest.mark.kubectl

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.kubectl.example.com
spec:
  group: kubectl.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
WIDGET = """\
apiVersion: kubectl.example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
"""


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("kubectl") / "kubeconfig"
    sim = KubeSim(tls=True, kubeconfig=str(path), speed=20).start()
    yield sim
    sim.stop()


def test_kubectl_is_installed() -> None:
    """A missing kubectl fails the run with a sentence instead of skipping these tests."""
    assert kubectl_path()


def test_get_nodes_and_namespaces(tls_sim: KubeSim) -> None:
    if not tls_sim.call(tls_sim.store.count, "nodes"):
        tls_sim.call(tls_sim.store.create, "nodes", {"metadata": {"name": "node-a"}})
    out = kubectl(tls_sim, "get", "nodes")
    assert out.splitlines()[0].split()[0] == "NAME" and len(out.splitlines()) >= 2
    assert "kube-system" in kubectl(tls_sim, "get", "ns")


def test_apply_crd_and_custom_resource(tls_sim: KubeSim, tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(CRD)
    (tmp_path / "widget.yaml").write_text(WIDGET)
    assert "created" in kubectl(tls_sim, "apply", "-f", str(tmp_path / "crd.yaml"))
    assert "created" in kubectl(tls_sim, "apply", "-f", str(tmp_path / "widget.yaml"))
    assert "w1" in kubectl(tls_sim, "get", "widgets")
    (tmp_path / "widget.yaml").write_text(WIDGET.replace("size: 3", "size: 5"))
    assert "configured" in kubectl(tls_sim, "apply", "-f", str(tmp_path / "widget.yaml"))
    assert kubectl(tls_sim, "get", "wd", "w1", "-o", "jsonpath={.spec.size}") == "5"
    kubectl(tls_sim, "delete", "-f", str(tmp_path / "widget.yaml"))
    kubectl(tls_sim, "delete", "-f", str(tmp_path / "crd.yaml"))
    assert "widgets" not in kubectl(tls_sim, "api-resources")


def test_logs_describe_delete_pod(tls_sim: KubeSim) -> None:
    name = "kubectl-logs"
    # An unknown scheduler keeps the simulated scheduler and kubelet away from this pod.
    pod = {
        "metadata": {"name": name},
        "spec": {
            "schedulerName": "kubectl-test-none",
            "containers": [{"name": "main", "image": "busybox"}],
            "restartPolicy": "Never",
        },
    }
    tls_sim.call(tls_sim.store.create, "pods", pod)
    for i in range(3):
        tls_sim.call(tls_sim.store.logs.write, "default", name, "main", f"hello {i}")
    # Mark the container running so logs are served.
    tls_sim.call(
        lambda: tls_sim.store.patch(
            "pods",
            name,
            {
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "main",
                            "ready": True,
                            "restartCount": 0,
                            "image": "busybox",
                            "imageID": "",
                            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
                        }
                    ],
                }
            },
            namespace="default",
            subresource="status",
        )
    )
    logs = kubectl(tls_sim, "logs", name, "--tail=2")
    assert logs.splitlines()[-2:] == ["hello 1", "hello 2"]
    described = kubectl(tls_sim, "describe", "pod", name)
    assert "Name:" in described and name in described
    assert f'pod "{name}" deleted' in kubectl(tls_sim, "delete", "pod", name, "--wait=false")
    assert name not in kubectl(tls_sim, "get", "pods")
