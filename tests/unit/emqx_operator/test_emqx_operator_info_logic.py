"""emqx_operator_info's reading of what the cluster holds, without a cluster: the resource summary,
the operator version from its Deployment, the CRD versions, and the hazards a user is warned of."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import discovery, hazards, summary

pytestmark = pytest.mark.timeout(10)


def node(name, version="5.8.6", edition="Enterprise", status="running", sessions=10, live=8):
    return {"node": name, "node_status": status, "version": version, "edition": edition, "connections": sessions,
            "live_connections": live}


def emqx(spec=None, nodes=None, replicants=None, evacuations=None, conditions=("Ready", "Available")):
    status = {"conditions": [{"type": c, "status": "True"} for c in conditions],
              "coreNodesStatus": {"currentRevision": "a", "updateRevision": "a", "replicas": 2, "readyReplicas": 2},
              "coreNodes": nodes if nodes is not None else [node("emqx@a"), node("emqx@b")],
              "nodeEvacuationsStatus": evacuations or []}
    if replicants is not None:
        status["replicantNodes"] = replicants
        status["replicantNodesStatus"] = {"currentRevision": "r1", "updateRevision": "r2"}
    return {"metadata": {"name": "emqx-ee", "namespace": "default"}, "spec": dict({"image": "emqx/emqx-enterprise:5.8.6"}, **(spec or {})),
            "status": status}


def test_summary_counts_clients_and_sessions_of_running_nodes_only():
    obj = emqx(nodes=[node("emqx@a", sessions=10, live=8), node("emqx@b", sessions=5, live=5),
                      node("emqx@old", status="stopped", sessions=99, live=99)])
    out = summary.resource_summary(obj)
    assert out["total_connections"] == 13 and out["total_sessions"] == 15
    assert out["running_nodes"] == ["emqx@a", "emqx@b"] and out["stopped_nodes"] == ["emqx@old"]
    assert out["ready"] and out["updated"] and out["cluster_domain"] == "cluster.local"


def test_fields_the_operator_leaves_out_when_zero_are_read_as_zero():
    # EMQXNode's counts are omitempty (apis/apps/v2beta1/status.go): no live_connections is no connected
    # client on EMQX 5.1 or later; before 5.1 EMQX has no such figure and the sessions stand in for it.
    idle = {"node": "emqx@a", "node_status": "running", "version": "5.8.6", "connections": 12}
    old = {"node": "emqx@b", "node_status": "running", "version": "5.0.26", "connections": 7}
    out = summary.resource_summary(emqx(nodes=[idle, old]))
    assert [(n["connections"], n["sessions"]) for n in out["nodes"]] == [(0, 12), (7, 7)]
    assert out["total_connections"] == 7 and out["total_sessions"] == 19


def test_evacuations_are_read_under_the_name_operators_before_2_2_26_gave_them():
    obj = emqx()
    del obj["status"]["nodeEvacuationsStatus"]
    obj["status"]["nodEvacuationsStatus"] = [{"node": "emqx@a", "state": "evicting_conns",
                                              "stats": {"current_connected": 4, "current_sessions": 6}}]
    out = summary.resource_summary(obj)
    assert [(e["node"], e["state"], e["connections_left"]) for e in out["evacuations"]] == [("emqx@a", "evicting_conns", 4)]
    assert hazards.resource_hazards(out) != [], "an evacuation under either name is a hazard to report"


def test_replicants_count_and_their_revision_decides_updated():
    out = summary.resource_summary(emqx(replicants=[node("emqx@r1", sessions=3, live=3)]))
    assert [n["role"] for n in out["nodes"]] == ["core", "core", "replicant"]
    assert out["total_connections"] == 19
    assert out["updated"] is False  # core revisions agree, replicant revisions do not


def test_strategy_defaults_and_the_fixed_health_check_wait_of_operator_2_2():
    obj = emqx(spec={"updateStrategy": {"evacuationStrategy": {"connEvictRate": 50, "waitHealthCheck": 5}}})
    on_22 = summary.resource_summary(obj, "2.2.29")["update_strategy"]
    assert on_22["conn_evict_rate"] == 50 and on_22["sess_evict_rate"] == 1000 and on_22["wait_takeover"] == 10
    assert on_22["initial_delay_seconds"] == 10 and on_22["type"] == "Recreate"
    assert on_22["wait_health_check"] == 60 and on_22["wait_health_check_ignored"] == 5
    assert summary.resource_summary(obj, "2.3.1")["update_strategy"]["wait_health_check"] == 5
    assert summary.resource_summary(obj, None)["update_strategy"]["wait_health_check"] == 60
    assert summary.resource_summary(obj)["update_strategy_set"] == {"conn_evict_rate": 50, "wait_health_check": 5}


@pytest.mark.parametrize("image, version", [
    ("emqx/emqx-operator-controller:2.2.29", "2.2.29"),
    ("registry.example/emqx/emqx-operator-controller:v2.1.0", "2.1.0"),
    ("emqx/emqx-operator-controller:2.2.29-beta.1", "2.2.29-beta.1"),
    ("emqx/emqx-operator-controller@sha256:0123abcd", None),
    ("emqx/emqx-operator-controller:latest", None),
])
def test_operator_version_from_the_image_tag(image, version):
    assert discovery.version_of_image(image) == version


def test_operator_deployment_is_recognised_by_label_or_image():
    deployment = {"metadata": {"name": "m", "namespace": "ops", "labels": {"control-plane": "controller-manager"}},
                  "spec": {"replicas": 1, "template": {"spec": {"containers": [
                      {"name": "kube-rbac-proxy", "image": "gcr.io/kube-rbac-proxy:v0.13.1"},
                      {"name": "manager", "image": "emqx/emqx-operator-controller:2.2.29"}]}}},
                  "status": {"readyReplicas": 1}}
    assert discovery.is_operator(deployment)
    found = discovery.operator_from_deployment(deployment, "label")
    assert found["version"] == "2.2.29" and found["namespace"] == "ops" and found["ready_replicas"] == 1
    other = {"metadata": {"labels": {"control-plane": "controller-manager"}},
             "spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "example/other-operator:1.0.0"}]}}}}
    assert not discovery.is_operator(other)


def test_crd_versions_served_and_storage():
    crd = {"spec": {"versions": [{"name": "v2beta1", "served": True, "storage": True},
                                 {"name": "v1beta4", "served": False, "storage": False}]}}
    out = discovery.crd_from_object(crd)
    assert out["served"] == ["v2beta1"] and out["storage"] == "v2beta1"


def ids(found):
    return [h["id"] for h in found]


def test_hazards_name_each_pitfall():
    operator = {"found": True, "version": "2.1.0", "image": "emqx/emqx-operator-controller:2.1.0"}
    obj = emqx(spec={"clusterDomain": "corp.example"},
               nodes=[node("emqx@a", edition="Opensource"), node("emqx@old", status="stopped")],
               evacuations=[{"node": "emqx@a", "state": "prohibiting", "stats": {}}])
    found = hazards.hazards(operator, summary.resource_summary(obj, "2.1.0"),
                            [{"name": "rb", "phase": "Processing"}, {"name": "done", "phase": "Completed"}])
    assert ids(found) == ["operator_too_old", "custom_cluster_domain", "not_enterprise", "stopped_nodes",
                          "evacuation_running", "rebalance_processing"]
    assert "2.1.0" in found[0]["message"] and "2.2.29" in found[0]["message"]
    assert "rb" in found[-1]["message"] and "done" not in found[-1]["message"]


def test_a_healthy_cluster_on_a_current_operator_has_no_hazard():
    operator = {"found": True, "version": "2.2.29"}
    assert hazards.hazards(operator, summary.resource_summary(emqx()), []) == []
    assert ids(hazards.hazards({"found": False, "reason": "forbidden"}, None, [])) == ["operator_not_found"]
    assert ids(hazards.hazards({"found": True, "version": None, "image": "x@sha256:1"}, None, [])) == ["operator_version_unknown"]
