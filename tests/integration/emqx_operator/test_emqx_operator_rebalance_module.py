"""emqx_operator_rebalance through `ansible localhost -m` against the k8s lab's API server, with
the operator's status writes scripted (the operator simulator drives real EMQX elsewhere)."""
import json
import os

import pytest

pytest.importorskip("kubernetes")
from kubernetes.dynamic.exceptions import NotFoundError  # noqa: E402  pylint: disable=wrong-import-position
import ansible_run  # noqa: E402  pylint: disable=import-error,wrong-import-position
import operator_stub  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = pytest.mark.timeout(120)

DONORS = ["emqx@10.0.0.1", "emqx@10.0.0.2"]
RECIPIENTS = ["emqx@10.0.0.3"]


def run_module(args, env=None, check=False):
    return ansible_run.run_module("emqx_operator_rebalance", args, env=env, check=check, timeout=100)


@pytest.fixture(scope="module")
def k8s_api(module_lab_factory):
    return module_lab_factory("k8s")


@pytest.fixture
def k8s(k8s_api):
    """The module's API server with no Rebalance left by an earlier test (finalizers dropped, so
    a deletion is not held by an operator that is not there)."""
    resource = operator_stub.rebalances(k8s_api.description["kubeconfig"])
    for item in resource.get(namespace="default").items:
        if item.metadata.finalizers:
            resource.patch(name=item.metadata.name, namespace="default", body={"metadata": {"finalizers": None}},
                           content_type=operator_stub.MERGE)
        try:
            resource.delete(name=item.metadata.name, namespace="default")
        except NotFoundError:
            pass  # it was already being deleted: dropping the finalizer finished that
    assert resource.get(namespace="default").items == []
    return k8s_api


def base(lab, **extra):
    args = {"kubeconfig": lab.description["kubeconfig"], "name": "rb", "instance_name": "emqx-ee", "conn_evict_rate": 10,
            "poll_interval": 0.2, "wait_timeout": 30}
    args.update(extra)
    return args


def play(lab, steps, name="rb"):
    script = operator_stub.Script(lab.description["kubeconfig"], name, steps, pause=0.4)
    script.start()
    return script


@pytest.mark.slow
def test_present_waits_for_completed_with_progress_and_is_idempotent(k8s):
    script = play(k8s, [operator_stub.processing("wait_health_check", DONORS, RECIPIENTS),
                        operator_stub.processing("evicting_conns", DONORS, RECIPIENTS), operator_stub.COMPLETED])
    rc, result = run_module(base(k8s, abs_conn_threshold=100, rel_conn_threshold="1.2"))
    script.join(10)
    assert script.error is None
    assert rc == 0, result
    assert result["changed"] is True and result["before"] is None
    assert result["api_version"] == "apps.emqx.io/v2beta1"
    assert result["after"]["phase"] == "Completed"
    assert result["after"]["spec"]["rebalanceStrategy"]["sessEvictRate"] == 500  # the CRD's default
    states = [s["state"] for s in result["timeline"]]
    assert "wait_health_check" in states and "evicting_conns" in states
    assert result["rebalance_outcome"] is None  # no EMQX API given: the phase is all there is

    rc, again = run_module(base(k8s, abs_conn_threshold=100, rel_conn_threshold="1.20"))
    assert rc == 0 and again["changed"] is False and again["after"]["phase"] == "Completed"


@pytest.mark.slow
def test_changed_spec_is_refused_then_recreated_on_request(k8s):
    rc, first = run_module(base(k8s, wait=False))
    assert rc == 0 and first["changed"] is True
    rc, refused = run_module(base(k8s, conn_evict_rate=20, wait=False))
    assert rc != 0
    assert "immutable" in refused["msg"] and "rebalanceStrategy.connEvictRate: 10 -> 20" in refused["msg"]

    rc, predicted = run_module(base(k8s, conn_evict_rate=20, recreate=True, wait=False), check=True)
    assert rc == 0 and predicted["changed"] is True and predicted["recreated"] is True
    rc, recreated = run_module(base(k8s, conn_evict_rate=20, recreate=True, wait=False))
    assert rc == 0 and recreated["recreated"] is True
    assert recreated["after"]["spec"]["rebalanceStrategy"]["connEvictRate"] == 20
    assert recreated["before"]["spec"]["rebalanceStrategy"]["connEvictRate"] == 10


@pytest.mark.slow
def test_failed_phase_fails_with_the_operators_reason(k8s):
    script = play(k8s, [operator_stub.failed("Failed to start rebalance: request api failed: 400 Bad Request")])
    rc, result = run_module(base(k8s))
    script.join(10)
    assert rc != 0
    assert "failed: Failed to start rebalance: request api failed: 400 Bad Request" in result["msg"]
    assert result["last_observed"]["status"]["phase"] == "Failed"


@pytest.mark.slow
def test_timeout_reports_the_last_phase(k8s):
    rc, result = run_module(base(k8s, wait_timeout=1))
    assert rc != 0 and "timed out" in result["msg"] and "not reconciled yet" in result["msg"]


@pytest.mark.slow
def test_check_mode_writes_nothing(k8s):
    rc, result = run_module(base(k8s), check=True)
    assert rc == 0 and result["changed"] is True
    assert operator_stub.rebalances(k8s.description["kubeconfig"]).get(namespace="default").items == []


@pytest.mark.slow
def test_absent_waits_for_the_finalizer(k8s):
    resource = operator_stub.rebalances(k8s.description["kubeconfig"])
    rc, _result = run_module(base(k8s, wait=False))
    assert rc == 0
    # what the operator leaves on a finished Rebalance: its finalizer and a final phase (a finalizer without a
    # phase is a Rebalance it is starting, which the module must not delete yet)
    resource.patch(name="rb", namespace="default", body={"metadata": {"finalizers": ["apps.emqx.io/finalizer"]}},
                   content_type=operator_stub.MERGE)
    resource.status.patch(name="rb", namespace="default", body={"status": operator_stub.COMPLETED}, content_type=operator_stub.MERGE)
    releaser = operator_stub.Finalizer(k8s.description["kubeconfig"], "rb", hold=1.0)
    releaser.start()
    rc, result = run_module({"kubeconfig": k8s.description["kubeconfig"], "name": "rb", "state": "absent",
                             "poll_interval": 0.2, "wait_timeout": 30})
    releaser.join(10)
    assert releaser.error is None and releaser.released
    assert rc == 0 and result["changed"] is True and result["after"] is None
    assert result["elapsed"] >= 0.8  # it waited for the operator to let go
    rc, again = run_module({"kubeconfig": k8s.description["kubeconfig"], "name": "rb", "state": "absent"})
    assert rc == 0 and again["changed"] is False


@pytest.mark.slow
def test_k8s_auth_environment_variables_and_explicit_host(k8s):
    desc = k8s.description
    env = {"K8S_AUTH_HOST": desc["server"], "K8S_AUTH_API_KEY": desc["api_key"], "K8S_AUTH_SSL_CA_CERT": desc["ca_cert"]}
    args = base(k8s, wait=False)
    del args["kubeconfig"]
    rc, result = run_module(args, env=dict(env, KUBECONFIG=os.devnull))
    assert rc == 0 and result["changed"] is True, result
    rc, denied = run_module(args, env=dict(env, KUBECONFIG=os.devnull, K8S_AUTH_API_KEY="wrong"))
    assert rc != 0 and "401" in denied["msg"]
    assert "wrong" not in json.dumps(denied)


@pytest.mark.slow
def test_v1beta4_only_targets_emqx_enterprise(k8s):
    rc, result = run_module(base(k8s, api_version="v1beta4", wait=False))
    assert rc != 0 and "EmqxEnterprise" in result["msg"]
    rc, result = run_module(base(k8s, api_version="v1beta4", instance_kind="EmqxEnterprise", wait=False))
    assert rc == 0 and result["api_version"] == "apps.emqx.io/v1beta4"
    assert "instanceKind" not in result["after"]["spec"]
