"""The EMQX update logic without a cluster: what changes, what starts a blue-green update, and how
a stalled update is explained, with statuses scripted as the operator would write them."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, TerminalFailure, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import update as logic
from k8s_lab import bluegreen
from operator_fakes import Clock, Script  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(10)


def params(**extra):
    out = {"name": "emqx-ee", "namespace": "default", "image": None, "update_strategy": None, "spec": None,
           "wait": True, "wait_timeout": 100, "poll_interval": 1.0, "stall_timeout": 5, "allow_custom_cluster_domain": False}
    out.update(extra)
    return out


def status(conditions, current="a", update="a", current_replicas=2, update_replicas=2, evacuations=None, message=""):
    return {"conditions": [{"type": c, "status": "True", "message": message} for c in conditions],
            "coreNodesStatus": {"currentRevision": current, "updateRevision": update, "currentReplicas": current_replicas,
                                "updateReplicas": update_replicas, "replicas": 2, "readyReplicas": 2},
            "nodeEvacuationsStatus": evacuations or []}


def run(resource, **extra):
    clock = Clock()
    return logic.EmqxUpdate(resource, params(**extra), clock=clock, sleep=clock.sleep).run()


def test_patch_holds_only_what_was_given_and_rejects_bad_rates():
    patch = logic.desired_patch(params(image="e:2", update_strategy={"conn_evict_rate": 5, "wait_takeover": 0}))
    assert patch == {"image": "e:2", "updateStrategy": {"evacuationStrategy": {"connEvictRate": 5, "waitTakeover": 0}}}
    with pytest.raises(ValidationError):
        logic.desired_patch(params(update_strategy={"sess_evict_rate": 0}))
    with pytest.raises(ValidationError, match="nothing to set"):
        logic.desired_patch(params())


def test_template_changes_start_blue_green_but_replicas_do_not():
    current = {"image": "e:1", "coreTemplate": {"spec": {"replicas": 3}}, "updateStrategy": {"initialDelaySeconds": 10}}
    assert logic.differences(current, {"coreTemplate": {"spec": {"replicas": 4}}}) == ["spec.coreTemplate.spec.replicas"]
    assert not logic.template_changed(["spec.coreTemplate.spec.replicas", "spec.updateStrategy.initialDelaySeconds"])
    assert logic.template_changed(["spec.image"])
    assert logic.template_changed(["spec.coreTemplate.spec.env"])
    assert logic.differences(current, {"image": "e:1"}) == []


def test_waits_for_a_new_revision_before_trusting_ready():
    stale_ready = status(["Ready", "Available"])
    steps = [stale_ready, stale_ready,  # the operator has not reconciled yet: Ready is stale
             status(["CoreNodesProgressing"], update="b", update_replicas=0),
             status(["Available"], update="b", evacuations=[{"node": "n2", "state": "evicting_conns",
                                                             "stats": {"current_connected": 20, "current_sessions": 20}}]),
             status(["Available"], update="b", current_replicas=1, evacuations=[
                 {"node": "n2", "state": "evicting_conns", "stats": {"current_connected": 10, "current_sessions": 10}}]),
             status(["Ready"], current="b", update="b", current_replicas=2)]
    resource = Script({"image": "e:1"}, stale_ready, steps)
    out = run(resource, image="e:2")
    assert resource.patched == {"spec": {"image": "e:2"}}
    assert out["after"]["revisions"] == {"current": "b", "update": "b"}
    assert out["evacuated_nodes"] == ["n2"]
    with_eta = [s for s in out["timeline"] if s["eta_seconds"] is not None]
    assert with_eta and with_eta[0]["remaining"] == 20 and with_eta[0]["eta_seconds"] == pytest.approx(1.0)


def test_stall_before_available_blames_the_image():
    stuck = status(["CoreNodesProgressing"], update="b", update_replicas=0, message="0/2 new core nodes ready")
    resource = Script({"image": "e:1"}, status(["Ready"]), [stuck] * 20)
    with pytest.raises(TerminalFailure, match="new nodes are not ready.*'e:bad'") as caught:
        run(resource, image="e:bad")
    assert "0/2 new core nodes ready" in caught.value.msg


def test_stall_in_an_evacuation_names_the_node_and_state():
    evac = [{"node": "n2", "state": "evicting_sessions", "stats": {"current_connected": 0, "current_sessions": 7}}]
    stuck = status(["Available"], update="b", evacuations=evac)
    resource = Script({"image": "e:1"}, status(["Ready"]), [stuck] * 20)
    with pytest.raises(TerminalFailure, match="evacuation of n2 has stayed in state evicting_sessions.*7 connections"):
        run(resource, image="e:2")


def test_old_nodes_left_behind_are_reported():
    stuck = status(["Available"], update="b", current_replicas=1)
    resource = Script({"image": "e:1"}, status(["Ready"]), [stuck] * 20)
    with pytest.raises(TerminalFailure, match="old nodes are left in the cluster"):
        run(resource, image="e:2")


def test_old_revision_scaling_up_again_for_good_fails_within_seconds():
    steps = [status(["Available"], update="b", current_replicas=1), status(["Available"], update="b", current_replicas=2)]
    resource = Script({"image": "e:1"}, status(["Ready"]), steps + [steps[-1]] * 50)
    with pytest.raises(TerminalFailure, match=r"scale-up loop.*went from 1 to 2 replicas.*stayed there for [5-7] s") as caught:
        run(resource, image="e:2", stall_timeout=100)
    assert "#1105" in caught.value.msg


def test_an_old_node_counted_once_more_while_it_stops_is_not_the_scale_up_loop():
    # readiness lags a stopping node: one look counts it again, then the update goes on and finishes
    steps = [status(["Available"], update="b", current_replicas=1), status(["Available"], update="b", current_replicas=0),
             status(["Available"], update="b", current_replicas=1), status(["Available"], update="b", current_replicas=0),
             status(["Ready"], current="b", update="b", current_replicas=2)]
    out = run(Script({"image": "e:1"}, status(["Ready"]), steps), image="e:2", stall_timeout=100)
    assert out["after"]["revisions"] == {"current": "b", "update": "b"}


def test_a_rollback_once_available_drains_two_old_sets_without_calling_it_the_scale_up_loop():
    # Rolled back while the update to "b" was Available: the operator counts a collision and creates "c";
    # the rest of "a" is drained first, then "b" becomes the current revision with all its replicas
    # (update_emqx_status.go) and is drained in turn.
    steps = [status(["CoreNodesProgressing"], current="a", update="c", current_replicas=1, update_replicas=0),
             status(["Available"], current="a", update="c", current_replicas=1),
             status(["Available"], current="a", update="c", current_replicas=0),
             status(["Available"], current="b", update="c", current_replicas=2)]
    steps += [steps[-1]] * 8 + [status(["Available"], current="b", update="c", current_replicas=1)] * 3
    steps += [status(["Ready"], current="c", update="c", current_replicas=2)]
    out = run(Script({"image": "e:2"}, status(["Available"], current="a", update="b", current_replicas=1), steps),
              image="e:1", stall_timeout=100)
    assert out["after"]["revisions"] == {"current": "c", "update": "c"}


def test_custom_cluster_domain_blocks_template_changes_only():
    resource = Script({"image": "e:1", "clusterDomain": "corp"}, status(["Ready"]), [])
    with pytest.raises(ValidationError, match="without evacuation"):
        run(resource, image="e:2")
    assert resource.patched is None
    out = run(Script({"image": "e:1", "clusterDomain": "corp"}, status(["Ready"]), []),
              update_strategy={"conn_evict_rate": 3})
    assert out["changed"] and not out["blue_green"]


def test_lab_template_hash_ignores_replicas_like_the_operator():
    spec = {"image": "e:1", "coreTemplate": {"spec": {"replicas": 2, "env": [{"name": "A"}]}}}
    scaled = {"image": "e:1", "coreTemplate": {"spec": {"replicas": 5, "env": [{"name": "A"}]}}}
    assert bluegreen.template_hash(spec) == bluegreen.template_hash(scaled)
    assert bluegreen.template_hash(spec) != bluegreen.template_hash(dict(spec, image="e:2"))
    assert bluegreen.fnv32a("") == 0x811C9DC5 and bluegreen.fnv32a("a") == 0xE40C292C


def test_lab_conditions_keep_transition_time_and_newest_first():
    conditions = bluegreen.set_condition([], "Available", "r", "m", "t1")
    conditions = bluegreen.set_condition(conditions, "Ready", "r", "m", "t2")
    conditions = bluegreen.set_condition(conditions, "Available", "r", "m", "t3")
    assert [(c["type"], c["lastTransitionTime"]) for c in conditions] == [("Available", "t1"), ("Ready", "t2")]


class StrictServer(Script):
    """An API server with the CRD of operator 2.2, refusing unknown fields (fieldValidation=Strict)."""

    def patch(self, _name, body):
        if "waitHealthCheck" in str(body):
            message = ('EMQX in version "v2beta1" cannot be handled as a EMQX: strict decoding error: unknown field '
                       '"spec.updateStrategy.evacuationStrategy.waitHealthCheck"')
            raise ApiError("patching failed: 400 BadRequest: " + message, status=400, message=message)
        return super().patch(_name, body)


def test_wait_health_check_on_an_operator_2_2_crd_is_refused_with_the_reason_and_nothing_changes():
    server = StrictServer({"image": "e:1"}, status(["Ready"]), [])
    with pytest.raises(ValidationError) as err:
        run(server, image="e:2", update_strategy={"wait_health_check": 5})
    assert "older than 2.3" in str(err.value) and "nothing was changed" in str(err.value)
    assert server.obj["spec"] == {"image": "e:1"}
