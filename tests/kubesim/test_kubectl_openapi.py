"""The OpenAPI documents kubectl 1.32 reads: ``explain`` and strict field validation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import kubectl, run

pytestmark = pytest.mark.kubectl

WIDGETS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.shop.example.com}
spec:
  group: shop.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A widget for sale.
        properties:
          spec:
            type: object
            description: What the widget is.
            properties:
              size: {type: integer, description: Size in centimetres.}
              colour: {type: string}
              extras: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

POD = """
apiVersion: v1
kind: Pod
metadata: {name: %(name)s}
spec:
  containers:
  - name: main
    image: busybox
    %(extra)s
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("kubectl-openapi") / "kubeconfig"
    server = KubeSim(tls=True, kubeconfig=str(path), speed=20).start()
    yield server
    server.stop()


def _apply(sim: KubeSim, manifest: str, *args: str, check: bool = False):
    assert sim.kubeconfig_path
    return run(sim.kubeconfig_path, "apply", "-f", "-", *args, stdin=manifest, check=check)


def test_explain_prints_fields_of_built_in_kinds(sim: KubeSim) -> None:
    out = kubectl(sim, "explain", "pod.spec.containers")
    assert "FIELD: containers <[]Container>" in out
    for field in ("image\t<string>", "env\t<[]EnvVar>", "resources\t<ResourceRequirements>"):
        assert field in out
    assert "Container image name." in out
    deploy = kubectl(sim, "explain", "deployment.spec.strategy.rollingUpdate")
    assert "maxSurge\t<IntOrString>" in deploy
    assert "GROUP:      apps" in deploy
    assert "schedule\t<string>" in kubectl(sim, "explain", "cronjobs.spec")
    recursive = kubectl(sim, "explain", "pod.spec.volumes", "--recursive")
    assert "configMap\t<ConfigMapVolumeSource>" in recursive


def test_explain_reads_a_crd_schema(sim: KubeSim) -> None:
    kubectl(sim, "apply", "-f", "-", stdin=WIDGETS)
    out = kubectl(sim, "explain", "widgets.spec")
    assert "What the widget is." in out
    assert "size\t<integer>" in out and "Size in centimetres." in out


def test_strict_validation_reports_unknown_fields_like_a_cluster(sim: KubeSim) -> None:
    bad = POD % {"name": "strict", "extra": "bogus: 1"}
    proc = _apply(sim, bad)
    assert proc.returncode != 0
    assert (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" '
        'cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus"'
    ) in proc.stderr
    created = run(sim.kubeconfig_path or "", "create", "-f", "-", stdin=bad, check=False)
    assert 'unknown field "spec.containers[0].bogus"' in created.stderr
    warned = _apply(sim, bad, "--validate=warn", check=True)
    assert 'Warning: unknown field "spec.containers[0].bogus"' in warned.stderr
    assert "pod/strict created" in warned.stdout
    # A valid manifest passes, including fields kubesim keeps without modelling them.
    good = POD % {"name": "fine", "extra": "resizePolicy: [{resourceName: cpu}]"}
    assert "pod/fine created" in _apply(sim, good, check=True).stdout


def test_strict_validation_of_patches_and_custom_objects(sim: KubeSim) -> None:
    kubectl(sim, "apply", "-f", "-", stdin=POD % {"name": "patched", "extra": ""})
    bad = POD % {"name": "patched", "extra": "workingDir: /x\n    bogus: 1"}
    proc = _apply(sim, bad)
    assert proc.returncode != 0
    assert 'error when patching "STDIN"' in proc.stderr
    assert 'strict decoding error: unknown field "spec.containers[0].bogus"' in proc.stderr
    kubectl(sim, "apply", "-f", "-", stdin=WIDGETS)
    widget = """
apiVersion: shop.example.com/v1
kind: Widget
metadata: {name: w}
spec:
  size: 3
  extras: {anything: goes}
  shape: round
"""
    refused = _apply(sim, widget)
    assert 'Widget in version "v1" cannot be handled as a Widget' in refused.stderr
    assert 'unknown field "spec.shape"' in refused.stderr
    assert "extras" not in refused.stderr
    fixed = widget.replace("  shape: round\n", "")
    assert "widget.shop.example.com/w created" in _apply(sim, fixed, check=True).stdout
