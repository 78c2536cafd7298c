"""The role's arithmetic: how long the operator will drain the old pods (refused when it cannot fit
the wait timeout or the reconnect rate is too high) and the decision after the update."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import decision, estimate, summary

pytestmark = pytest.mark.timeout(10)


def cluster(image="emqx/emqx-enterprise:5.8.6", version="5.8.6", live=(100, 100), sessions=None, strategy=None,
            evacuations=None, ready=True, current="a", update="a"):
    sessions = sessions or live
    nodes = [{"node": "emqx@%d" % i, "node_status": "running", "version": version, "edition": "Enterprise",
              "connections": s, "live_connections": c} for i, (c, s) in enumerate(zip(live, sessions))]
    obj = {"metadata": {"name": "emqx-ee"}, "spec": {"image": image, "updateStrategy": strategy or {}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}] if ready else [],
                      "coreNodesStatus": {"currentRevision": current, "updateRevision": update},
                      "coreNodes": nodes, "nodeEvacuationsStatus": evacuations or []}}
    return summary.resource_summary(obj, "2.2.29")


def test_drain_estimate_per_pod_with_the_fixed_health_check_wait():
    strategy = {"conn_evict_rate": 20, "sess_evict_rate": 50, "wait_takeover": 2, "initial_delay_seconds": 3}
    out = estimate.drain_estimate(cluster(live=(100, 40)), strategy, "2.2.29", wait_timeout=600)
    # per pod: 60 s health check + connections/20 + 2 s takeover + sessions/50
    assert [p["seconds"] for p in out["pods"]] == [60 + 5 + 2 + 2, 60 + 2 + 2 + 1]
    # the operator waits until more than initialDelaySeconds whole seconds have passed: one more
    assert out["total_s"] == (3 + 1) + 69 + 65 and out["old_pods"] == 2 and out["per_pod_max_s"] == 69
    assert out["too_slow"] is None and out["too_fast"] is None


def test_a_pod_without_sessions_is_only_waited_for():
    out = estimate.drain_estimate(cluster(live=(0,)), {"wait_takeover": 7, "initial_delay_seconds": 0}, "2.2.29")
    assert out["total_s"] == 1 + 7


def test_strategy_too_slow_for_the_timeout_is_named():
    out = estimate.drain_estimate(cluster(live=(300, 300)), {"conn_evict_rate": 1, "sess_evict_rate": 1000}, "2.2.29",
                                  wait_timeout=300)
    assert out["too_slow"] and "more than the wait timeout of 300 s" in out["too_slow"] and "connEvictRate 1" in out["too_slow"]


def test_the_resource_strategy_counts_when_the_update_does_not_set_one():
    on_resource = cluster(live=(50,), strategy={"evacuationStrategy": {"connEvictRate": 5}})
    assert estimate.drain_estimate(on_resource, {}, "2.2.29")["strategy"]["conn_evict_rate"] == 5
    assert estimate.drain_estimate(on_resource, {"conn_evict_rate": 50}, "2.2.29")["strategy"]["conn_evict_rate"] == 50


def test_operator_2_3_uses_the_configured_health_check_wait():
    out = estimate.drain_estimate(cluster(live=(10,)), {"wait_health_check": 2, "conn_evict_rate": 10, "sess_evict_rate": 10,
                                                        "wait_takeover": 1, "initial_delay_seconds": 0}, "2.3.0")
    assert out["total_s"] == 1 + 2 + 1 + 1 + 1


def test_reconnect_rate_above_the_cap_is_named():
    out = estimate.drain_estimate(cluster(), {"conn_evict_rate": 2000}, "2.2.29", max_reconnect_rate=500)
    assert out["too_fast"] and "2000" in out["too_fast"] and "500" in out["too_fast"]
    assert estimate.drain_estimate(cluster(), {"conn_evict_rate": 400}, "2.2.29", max_reconnect_rate=500)["too_fast"] is None


def info_of(emqx_summary, found_hazards=()):
    return {"emqx": emqx_summary, "hazards": list(found_hazards)}


def failed(result):
    return [c["name"] for c in result["checks"] if not c["passed"]]


def test_decision_passes_on_the_new_version_with_clients_back():
    after = cluster(image="emqx/emqx-enterprise:5.10.4", version="5.10.4", live=(95, 96))
    result = decision.decide(info_of(after), "emqx/emqx-enterprise:5.10.4", baseline_connections=200, min_fraction=0.9)
    assert result["passed"], result
    assert result["required_connections"] == 180 and result["connections"] == 191


def test_decision_names_every_failed_check():
    after = cluster(image="emqx/emqx-enterprise:5.10.4", version="5.8.6", live=(50, 50), ready=False, current="a", update="b",
                    evacuations=[{"node": "emqx@0", "state": "prohibiting", "stats": {}}])
    hazard = {"id": "rebalance_processing", "message": "Rebalance rb is Processing"}
    result = decision.decide(info_of(after, [hazard, {"id": "stopped_nodes", "message": "x"}]), "emqx/emqx-enterprise:5.10.4",
                             baseline_connections=200, min_fraction=0.9, accepted_hazards=["stopped_nodes"])
    assert not result["passed"]
    assert failed(result) == ["ready_on_new_revision", "nodes_on_new_version", "no_evacuation_left", "connections_recovered",
                              "no_hazards"]
    assert any("emqx@0 5.8.6" in r for r in result["reasons"]) and any("Rebalance rb" in r for r in result["reasons"])


def test_decision_without_a_version_tag_only_needs_running_nodes():
    after = cluster(image="emqx/emqx-enterprise@sha256:beef", version="5.10.4")
    result = decision.decide(info_of(after), "emqx/emqx-enterprise@sha256:beef", baseline_connections=0)
    assert result["passed"], result
    assert decision.decide({"emqx": None}, "x:1")["passed"] is False
