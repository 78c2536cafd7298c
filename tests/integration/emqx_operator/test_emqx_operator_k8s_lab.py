"""The k8s lab as the operator modules and users meet it: the real ``kubernetes`` client and
``kubectl`` against ``labctl up k8s``, over TLS with the lab's CA and a bearer token."""
import json
import os
import shutil
import threading
import time

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import config, dynamic  # noqa: E402
from kubernetes.client import exceptions  # noqa: E402
from kubectl_run import kubectl_result  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = pytest.mark.timeout(120)

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def k8s(lab_factory):
    return lab_factory("k8s")


def client(lab, **overrides):
    api_client = config.new_client_from_config(lab.description["kubeconfig"])
    for key, value in overrides.items():
        setattr(api_client.configuration, key, value)
    return dynamic.DynamicClient(api_client)


def emqx_body(name, image):
    return {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": name}, "spec": {"image": image}}


def kubectl(lab, *args):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    return kubectl_result(lab, *args)


def test_description_and_tls(k8s):
    desc = k8s.description
    assert desc["server"].startswith("https://127.0.0.1:")
    assert os.path.exists(desc["kubeconfig"]) and desc["namespace"] == "default"
    assert desc["members"][0]["alive"] is True
    api = client(k8s)  # verifies the server certificate against the kubeconfig's CA
    assert api.version["kubernetes"]["major"] == "1"


def test_wrong_token_is_rejected(k8s, tmp_path):
    with open(k8s.description["kubeconfig"]) as handle:
        kubeconfig = json.load(handle)
    kubeconfig["users"][0]["user"]["token"] = "wrong"
    (tmp_path / "kubeconfig").write_text(json.dumps(kubeconfig))
    api_client = config.new_client_from_config(str(tmp_path / "kubeconfig"))
    with pytest.raises(exceptions.ApiException) as caught:
        kubernetes.client.VersionApi(api_client).get_code()
    assert caught.value.status == 401


def test_crds_discovered_and_objects_round_trip(k8s):
    api = client(k8s)
    emqx = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX")
    assert emqx.namespaced and "status" in emqx.subresources
    created = emqx.create(namespace="default", body=emqx_body("emqx-ee", "emqx/emqx-enterprise:5.8.0"))
    assert created.spec.updateStrategy.evacuationStrategy.connEvictRate == 1000
    patched = emqx.patch(name="emqx-ee", namespace="default", body={"spec": {"image": "emqx/emqx-enterprise:5.8.1"}},
                         content_type=MERGE)
    assert patched.metadata.generation == 2
    status = emqx.status.patch(name="emqx-ee", namespace="default", content_type=JSON_PATCH,
                               body=[{"op": "add", "path": "/status", "value": {"conditions": [{"type": "Ready", "status": "True"}]}}])
    assert status.metadata.generation == 2 and status.status.conditions[0].type == "Ready"
    with pytest.raises(exceptions.ApiException) as caught:
        emqx.patch(name="emqx-ee", namespace="default", body={"spec": {"image": "x"}},
                   content_type="application/strategic-merge-patch+json")
    assert caught.value.status == 415


def test_watch_streams_changes_after_a_resource_version(k8s):
    api = client(k8s)
    emqx = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX")
    emqx.create(namespace="default", body=emqx_body("emqx-ee", "a"))
    since = emqx.get(namespace="default").metadata.resourceVersion

    def writer():
        time.sleep(0.3)
        emqx.patch(name="emqx-ee", namespace="default", body={"spec": {"image": "b"}}, content_type=MERGE)
        emqx.delete(name="emqx-ee", namespace="default")

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    seen = [(event["type"], event["object"].spec.image)
            for event in emqx.watch(namespace="default", resource_version=since, timeout=2)]
    thread.join()
    assert seen == [("MODIFIED", "b"), ("DELETED", "b")]
    assert time.monotonic() - started < 10  # timeoutSeconds ends the stream


def test_restart_keeps_objects_and_expires_old_watches(k8s):
    api = client(k8s)
    rebalance = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
    rebalance.create(namespace="default", body={"apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance",
                                                "metadata": {"name": "rb"},
                                                "spec": {"instanceName": "emqx-ee", "rebalanceStrategy": {"connEvictRate": 10}}})
    before = rebalance.get(namespace="default").metadata.resourceVersion
    k8s.fault("restart", "apiserver")
    api = client(k8s)
    rebalance = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
    kept = rebalance.get(name="rb", namespace="default")
    assert kept.spec.rebalanceStrategy.sessEvictRate == 500
    with pytest.raises(exceptions.ApiException) as caught:
        list(rebalance.watch(namespace="default", resource_version=str(int(before) - 1), timeout=1))
    assert caught.value.status == 410


def test_rebalance_spec_change_is_denied_like_the_operator_webhook(k8s):
    api = client(k8s)
    rebalance = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
    rebalance.create(namespace="default", body={"apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance",
                                                "metadata": {"name": "rb"},
                                                "spec": {"instanceName": "emqx-ee", "rebalanceStrategy": {"connEvictRate": 10}}})
    with pytest.raises(exceptions.ApiException) as caught:
        rebalance.patch(name="rb", namespace="default", body={"spec": {"instanceName": "other"}}, content_type=MERGE)
    assert caught.value.status == 403
    assert "the Rebalance spec don't allow update" in json.loads(caught.value.body)["message"]


def test_kubectl_get_shows_status_columns_like_the_operator_docs(k8s):
    api = client(k8s)
    emqx = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX")
    rebalance = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
    emqx.create(namespace="default", body=emqx_body("emqx-ee", "emqx/emqx-enterprise:5.8.0"))
    emqx.status.patch(name="emqx-ee", namespace="default", content_type=MERGE,
                      body={"status": {"conditions": [{"type": "Ready", "status": "True"},
                                                      {"type": "Available", "status": "True"}]}})
    rebalance.create(namespace="default", body={"apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance",
                                                "metadata": {"name": "rebalance-sample"},
                                                "spec": {"instanceName": "emqx-ee", "rebalanceStrategy": {"connEvictRate": 10}}})
    rebalance.status.patch(name="rebalance-sample", namespace="default", content_type=MERGE,
                           body={"status": {"phase": "Completed"}})

    rc, out, err = kubectl(k8s, "get", "emqx")
    assert rc == 0, err
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0] == ["NAME", "STATUS", "AGE"] and lines[1][:2] == ["emqx-ee", "Ready"]

    rc, out, err = kubectl(k8s, "get", "rebalances", "rebalance-sample")
    assert rc == 0, err
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0] == ["NAME", "STATUS", "AGE"] and lines[1][:2] == ["rebalance-sample", "Completed"]

    rc, out, err = kubectl(k8s, "patch", "emqx", "emqx-ee", "--type", "merge", "-p", '{"spec":{"image":"emqx:6"}}')
    assert rc == 0, err
    rc, out, err = kubectl(k8s, "get", "emqx", "emqx-ee", "-o", "jsonpath={.metadata.generation} {.spec.image}")
    assert (rc, out) == (0, "2 emqx:6"), err
    rc, out, err = kubectl(k8s, "patch", "rebalance", "rebalance-sample", "--type", "merge", "-p", '{"spec":{"instanceName":"x"}}')
    assert rc != 0 and "the Rebalance spec don't allow update" in err
