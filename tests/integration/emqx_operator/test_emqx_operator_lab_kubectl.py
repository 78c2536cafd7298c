"""The k8s lab as kubectl 1.32 and the kubernetes client see it with nothing turned off: the
operator CRDs' printer columns, ``kubectl apply`` with default validation (OpenAPI v3 +
server-side field validation), and the operator's Deployment for preflight checks."""
import json
import shutil

import pytest

pytest.importorskip("kubernetes")
from kubernetes import config, dynamic  # noqa: E402
from kubernetes.client import exceptions  # noqa: E402
from kubectl_run import kubectl_result as kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

MERGE = "application/merge-patch+json"
EMQX = """apiVersion: apps.emqx.io/v2beta1
kind: EMQX
metadata:
  name: emqx-ee
spec:
  image: emqx/emqx-enterprise:5.8.6
  imagePullPolicy: IfNotPresent
  updateStrategy:
    evacuationStrategy:
      connEvictRate: 1000
      sessEvictRate: 1000
      waitTakeover: 10
    initialDelaySeconds: 10
    type: Recreate
"""
# the seed's v1beta4 Rebalance
REBALANCE = """apiVersion: apps.emqx.io/v1beta4
kind: Rebalance
metadata:
  name: test-0
spec:
  instanceName: emqx-ee
  rebalanceStrategy:
    connEvictRate: 10
    sessEvictRate: 10
    waitTakeover: 10
    waitHealthCheck: 10
    absConnThreshold: 100
    absSessThreshold: 100
    relConnThreshold: "1.1"
    relSessThreshold: "1.1"
"""


def table(out):
    return [line.split() for line in out.strip().splitlines()]


def api(lab):
    return dynamic.DynamicClient(config.new_client_from_config(lab.description["kubeconfig"]))


@pytest.mark.slow
def test_apply_validates_by_default_and_get_prints_the_operator_columns(lab_factory):
    lab = lab_factory("k8s")
    rc, out, err = kubectl(lab, "apply", "-f", "-", stdin=EMQX)
    assert (rc, out.strip()) == (0, "emqx.apps.emqx.io/emqx-ee created"), err
    rc, out, err = kubectl(lab, "apply", "-f", "-", stdin=REBALANCE)
    assert (rc, out.strip()) == (0, "rebalance.apps.emqx.io/test-0 created"), err
    # a second apply with a change goes through the same validation, as a merge patch
    rc, out, err = kubectl(lab, "apply", "-f", "-", stdin=EMQX.replace("5.8.6", "5.8.7"))
    assert (rc, out.strip()) == (0, "emqx.apps.emqx.io/emqx-ee configured"), err

    # a misspelt field is reported by the server and nothing is written
    rc, out, err = kubectl(lab, "apply", "-f", "-", stdin=EMQX.replace("imagePullPolicy", "imagePullPolicyy"))
    assert rc != 0 and 'strict decoding error: unknown field "spec.imagePullPolicyy"' in err
    rc, out, err = kubectl(lab, "apply", "-f", "-", stdin=REBALANCE.replace("test-0", "test-1").replace("sessEvictRate", "sessEvictRat"))
    assert rc != 0 and 'unknown field "spec.rebalanceStrategy.sessEvictRat"' in err
    rc, out, err = kubectl(lab, "get", "rebalances", "test-1")
    assert rc != 0 and "NotFound" in err
    # --validate=warn: the field is dropped with a warning, as pruning does on a cluster
    rc, out, err = kubectl(lab, "apply", "--validate=warn", "-f", "-",
                           stdin=EMQX.replace("imagePullPolicy", "imagePullPolicyy"))
    assert rc == 0 and 'unknown field "spec.imagePullPolicyy"' in err
    rc, out, err = kubectl(lab, "get", "emqx", "emqx-ee", "-o", "json")
    assert "imagePullPolicyy" not in json.loads(out)["spec"]

    client = api(lab)
    client.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX").status.patch(
        name="emqx-ee", namespace="default", content_type=MERGE,
        body={"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Available", "status": "True"},
                                        {"type": "CoreNodesReady", "status": "True"}]}})
    client.resources.get(api_version="apps.emqx.io/v1beta4", kind="Rebalance").status.patch(
        name="test-0", namespace="default", content_type=MERGE, body={"status": {"phase": "Processing"}})
    rc, out, err = kubectl(lab, "get", "emqx")
    lines = table(out)
    assert rc == 0 and lines[0] == ["NAME", "STATUS", "AGE"] and lines[1][:2] == ["emqx-ee", "Available"], (out, err)
    for resource in ("rebalances", "rebalances.v1beta4.apps.emqx.io", "rebalances.v2beta1.apps.emqx.io"):
        rc, out, err = kubectl(lab, "get", resource)
        lines = table(out)
        assert rc == 0 and lines[0] == ["NAME", "STATUS", "AGE"] and lines[1][:2] == ["test-0", "Processing"], (resource, out, err)


def test_operator_deployment_serves_preflight_checks(lab_factory):
    lab = lab_factory("k8s", "--operator-version", "2.2.28")
    deployments = api(lab).resources.get(api_version="apps/v1", kind="Deployment")
    found = deployments.get(label_selector="control-plane=controller-manager").to_dict()["items"]
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in found] == [
        ("emqx-operator-system", "emqx-operator-controller-manager")]
    manager = next(c for c in found[0]["spec"]["template"]["spec"]["containers"] if c["name"] == "manager")
    assert manager["image"] == "emqx/emqx-operator-controller:2.2.28" and found[0]["status"]["readyReplicas"] == 1
    assert deployments.get(namespace="default").to_dict()["items"] == []
    assert deployments.get(label_selector="app.kubernetes.io/name=other").to_dict()["items"] == []
    one = deployments.get(name="emqx-operator-controller-manager", namespace="emqx-operator-system")
    assert one.metadata.labels["app.kubernetes.io/name"] == "emqx-operator"
    with pytest.raises(exceptions.ApiException) as caught:
        deployments.patch(name="emqx-operator-controller-manager", namespace="emqx-operator-system",
                          body={"spec": {"replicas": 0}}, content_type=MERGE)
    assert caught.value.status == 405

    rc, out, err = kubectl(lab, "get", "deploy", "-A", "-l", "control-plane=controller-manager")
    lines = table(out)
    assert rc == 0 and lines[0] == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], (out, err)
    assert lines[1][:5] == ["emqx-operator-system", "emqx-operator-controller-manager", "1/1", "1", "1"]
