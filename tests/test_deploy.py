"""The Kubernetes manifests in deploy/ apply to a cluster with ``kubectl apply -k``, and the
portal's web process they describe starts in kubesim's local runtime and answers /readyz;
the systemd examples run the four processes with restart policies."""

import configparser
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import kubectl, run

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "base"

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(240)]


def test_the_manifests_apply_and_apply_again_unchanged(tmp_path):
    with KubeSim(tls=True, kubeconfig=str(tmp_path / "kubeconfig")) as sim:
        first = kubectl(sim, "apply", "-k", str(BASE))
        assert "deployment.apps/kubeportal-web created" in first
        names = kubectl(
            sim, "get", "-n", "kubeportal", "deploy,svc,ingress,sa,cm,secret,cronjob", "-o", "name"
        ).split()
        for name in (
            "deployment.apps/kubeportal-web",
            "deployment.apps/kubeportal-worker",
            "deployment.apps/kubeportal-beat",
            "deployment.apps/kubeportal-watcher",
            "service/kubeportal-web",
            "ingress.networking.k8s.io/kubeportal",
            "serviceaccount/kubeportal",
            "configmap/kubeportal-config",
            "secret/kubeportal-secrets",
            "cronjob.batch/kubeportal-attach",
        ):
            assert name in names, names
        assert "clusterrolebinding.rbac.authorization.k8s.io/kubeportal" in kubectl(
            sim, "get", "clusterrolebinding", "-o", "name"
        )
        web = json.loads(
            kubectl(sim, "get", "-n", "kubeportal", "deploy/kubeportal-web", "-o", "json")
        )
        container = web["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        again = kubectl(sim, "apply", "-k", str(BASE))
        assert "created" not in again and "deployment.apps/kubeportal-web unchanged" in again


OVERLAY = """
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [{base}]
images:
  - {{name: registry.example.org/kubeportal, newName: kubeportal/portal, newTag: test}}
patches:
  - target: {{kind: Deployment, name: kubeportal-(worker|beat|watcher)}}
    patch: |
      - {{op: replace, path: /spec/replicas, value: 0}}
  - target: {{kind: Deployment, name: kubeportal-web}}
    patch: |
      - {{op: replace, path: /spec/replicas, value: 1}}
      - op: replace
        path: /spec/template/spec/initContainers/0/command
        value: [python, manage.py, migrate, --noinput]
      - {{op: add, path: /spec/template/spec/initContainers/0/workingDir, value: "{root}"}}
      - {{op: add, path: /spec/template/spec/containers/0/workingDir, value: "{root}"}}
      # The checkout stands in for the image: mounted where it is (a private /tmp in the
      # container would hide a checkout that lives under /tmp).
      - op: add
        path: /spec/template/spec/volumes/-
        value: {{name: checkout, hostPath: {{path: "{root}"}}}}
      - op: add
        path: /spec/template/spec/initContainers/0/volumeMounts
        value: [{{name: checkout, mountPath: "{root}", readOnly: true}}]
      - op: add
        path: /spec/template/spec/containers/0/volumeMounts/-
        value: {{name: checkout, mountPath: "{root}", readOnly: true}}
      - op: replace
        path: /spec/template/spec/containers/0/command
        value: [python, -m, uvicorn, portal.asgi:application, --host, $(POD_IP), --port, "8000"]
      - op: add
        path: /spec/template/spec/containers/0/env
        value: [{{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
  - target: {{kind: ConfigMap, name: kubeportal-config}}
    patch: |
      - {{op: replace, path: /data/PORTAL_ALLOWED_HOSTS, value: "*"}}
  - target: {{kind: Secret, name: kubeportal-secrets}}
    patch: |
      - op: replace
        path: /stringData
        value: {{PORTAL_SANDBOX: "0", PORTAL_METRICS_TOKEN: scrape-secret}}
"""


def test_the_web_process_starts_in_the_sandbox_runtime_and_is_ready(tmp_path):
    """The embedded mode (SQLite in the pod's data volume) is what can run here: the same
    manifests, the portal's own interpreter standing in for the image."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        OVERLAY.format(base=os.path.relpath(BASE, overlay), root=ROOT)
    )
    runtime = RuntimeOptions(mode="local", python=sys.executable, root=str(tmp_path / "rt"))
    with KubeSim(tls=True, kubeconfig=str(tmp_path / "kubeconfig"), runtime=runtime) as sim:
        kubectl(sim, "apply", "-k", str(overlay))
        waited = run(
            sim.kubeconfig_path, "wait", "-n", "kubeportal", "--for=condition=Ready", "pod",
            "-l", "app.kubernetes.io/component=web", "--timeout=150s", timeout=170, check=False,
        )  # fmt: skip
        if waited.returncode:
            events = kubectl(sim, "get", "events", "-n", "kubeportal",
                             "-o", "custom-columns=R:.reason,M:.message")  # fmt: skip
            logs = run(sim.kubeconfig_path, "logs", "-n", "kubeportal", "-l",
                       "app.kubernetes.io/component=web", "-c", "migrate", check=False)  # fmt: skip
            pytest.fail(f"the web pod did not become ready:\n{events}\n{logs.stdout[-3000:]}")
        pod = json.loads(
            kubectl(
                sim,
                "get",
                "pods",
                "-n",
                "kubeportal",
                "-l",
                "app.kubernetes.io/component=web",
                "-o",
                "json",
            )  # fmt: skip
        )["items"][0]
        address = pod["status"]["podIP"]
        # A local process has a loopback address; never dial a simulated pod's address.
        assert address.startswith("127."), pod["status"]
        base = f"http://{address}:8000"
        with urllib.request.urlopen(base + "/readyz", timeout=10) as answer:
            assert answer.status == 200 and answer.read() == b"ready\n"
        with urllib.request.urlopen(base + "/login/", timeout=10) as answer:
            assert answer.status == 200
        request = urllib.request.Request(
            base + "/metrics", headers={"Authorization": "Bearer scrape-secret"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert b'portal_http_requests_total{method="GET",status="200",view="login"}' in (
                answer.read()
            )


def test_the_systemd_units_run_the_four_processes_and_restart_them():
    units = {}
    for path in sorted((ROOT / "docs" / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(path)
        units[path.stem] = parser["Service"]
    commands = {name: unit["ExecStart"] for name, unit in units.items()}
    assert "uvicorn portal.asgi:application" in commands["kubeportal-web"]
    assert "celery -A portal worker" in commands["kubeportal-worker"]
    assert "celery -A portal beat" in commands["kubeportal-beat"]
    assert "manage.py watch_clusters" in commands["kubeportal-watcher"]
    assert all(unit["Restart"] == "always" for unit in units.values())
    assert all(unit["EnvironmentFile"] == "/etc/kubeportal/portal.env" for unit in units.values())
