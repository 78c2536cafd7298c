"""emqx_operator_update against the operator simulator on the EMQX lab: a real blue-green update
under MQTT load, progress and completion reported by the module, and stalls diagnosed."""
import json
import shutil

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("paho.mqtt")
import ansible_run  # noqa: E402  pylint: disable=import-error,wrong-import-position
from emqx_lab.load import LoadGenerator  # noqa: E402  pylint: disable=import-error,wrong-import-position
from kubectl_run import kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

FAST = {"initial_delay_seconds": 1, "conn_evict_rate": 30, "sess_evict_rate": 30, "wait_takeover": 1, "wait_health_check": 1}
# fast evacuations need waitHealthCheck, which operator 2.3 has (2.2 always waits EMQX's 60 s per node, and its
# CRD prunes the field, so a strategy setting it would show as changed on every run)
OPERATOR_2_3 = ("--operator-version", "2.3.0")
# what operator 2.2's CRD accepts (it has no waitHealthCheck)
FAST_2_2 = {k: v for k, v in FAST.items() if k != "wait_health_check"}


def create_ready(lab, strategy=None, **spec):
    body = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"},
            "spec": dict({"image": "emqx/emqx-enterprise:5.8.6"}, **spec)}
    kubectl(lab, "apply", "--validate=false", "-f", "-", stdin=json.dumps(body))
    # waiting for Ready with nothing to change is a read: the module does it and reports no change
    rc, result = run(lab, update_strategy=strategy or FAST, wait_timeout=20)
    assert rc == 0, result
    return result


def run(lab, check=False, **args):
    full = {"kubeconfig": lab.description["kubeconfig"], "name": "emqx-ee", "poll_interval": 0.3, "wait_timeout": 120,
            "stall_timeout": 30}
    full.update(args)
    return ansible_run.run_module("emqx_operator_update", full, check=check)


@pytest.mark.slow
def test_image_change_runs_blue_green_under_load_and_reports_progress(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 2, "--emqx-green", 2, *OPERATOR_2_3)
    create_ready(lab)
    rc, predicted = run(lab, check=True, image="emqx/emqx-enterprise:5.10.4", update_strategy=FAST)
    assert rc == 0 and predicted["changed"] and predicted["blue_green"] and predicted["changed_fields"] == ["spec.image"]
    assert "emqx-enterprise:5.8.6" in kubectl(lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.spec.image}")

    emqx = lab.description["emqx"]
    gen = LoadGenerator("127.0.0.1", emqx["lb"]["mqtt_port"], clients=60, rate=20).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        rc, result = run(lab, image="emqx/emqx-enterprise:5.10.4", update_strategy=FAST)
    finally:
        report = gen.stop()
    assert rc == 0, result
    assert result["changed"] is True and result["blue_green"] is True
    assert result["before"]["revisions"]["current"] != result["after"]["revisions"]["current"]
    assert result["after"]["revisions"]["current"] == result["after"]["revisions"]["update"]
    blue = sorted(n["name"] for n in emqx["nodes"] if n["colour"] == "blue")
    assert result["evacuated_nodes"] == blue
    with_work = [s for s in result["timeline"] if s["remaining"]]
    assert with_work, result["timeline"]
    assert any(s["eta_seconds"] is not None for s in result["timeline"]), result["timeline"]
    assert report["sessions_lost"] == 0, report
    assert kubectl(lab, "get", "emqx").split("\n")[1].split()[:2] == ["emqx-ee", "Ready"]

    rc, again = run(lab, image="emqx/emqx-enterprise:5.10.4", update_strategy=FAST)
    assert rc == 0 and again["changed"] is False and "timeline" not in again


@pytest.mark.slow
def test_bad_image_is_diagnosed_as_a_stuck_update(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1)
    create_ready(lab, strategy=FAST_2_2)
    # operator 2.2's CRD has no waitHealthCheck: refused with the reason, not pruned and "changed" on every run
    rc, result = run(lab, image="emqx/emqx-enterprise:5.10.4", update_strategy=FAST)
    assert rc != 0 and "older than 2.3" in result["msg"] and "nothing was changed" in result["msg"], result
    assert "emqx-enterprise:5.8.6" in kubectl(lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.spec.image}")
    rc, result = run(lab, image="emqx/emqx-enterprise:invalid", stall_timeout=3)
    assert rc != 0
    assert "stuck update: the new nodes are not ready" in result["msg"] and "emqx-enterprise:invalid" in result["msg"]
    assert "0/1 new core nodes ready" in result["msg"]
    assert result["last_observed"]["status"]["coreNodesStatus"]["currentReplicas"] == 1


@pytest.mark.slow
def test_custom_cluster_domain_is_refused_before_any_change(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1)
    create_ready(lab, strategy=FAST_2_2, clusterDomain="corp.example")
    rc, result = run(lab, image="emqx/emqx-enterprise:5.10.4")
    assert rc != 0 and "clusterDomain 'corp.example'" in result["msg"] and "without evacuation" in result["msg"]
    assert "emqx-enterprise:5.8.6" in kubectl(lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.spec.image}")


@pytest.mark.slow
def test_in_place_change_does_not_wait_for_a_new_revision(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 1, *OPERATOR_2_3)
    create_ready(lab)
    rc, result = run(lab, update_strategy=dict(FAST, conn_evict_rate=99))
    assert rc == 0 and result["changed"] is True and result["blue_green"] is False
    assert result["changed_fields"] == ["spec.updateStrategy.evacuationStrategy.connEvictRate"]
    assert result["after"]["revisions"]["current"] == result["before"]["revisions"]["current"]
