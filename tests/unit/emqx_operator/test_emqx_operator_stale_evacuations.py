"""Evacuations the operator did not start (one left behind by hand, or resumed from a data
directory by a restarted pod) are found and stopped while emqx_operator_update waits; the
operator's own evacuations are left alone."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import stale
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import update as logic
from operator_fakes import Clock, Script  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(10)


def running(*names):
    return [{"node": n, "node_status": "running"} for n in names]


def status(conditions, current, update, nodes, evacuations=()):
    return {"conditions": [{"type": c, "status": "True"} for c in conditions],
            "coreNodesStatus": {"currentRevision": current, "updateRevision": update, "currentReplicas": 1, "updateReplicas": 1},
            "coreNodes": running(*nodes), "nodeEvacuationsStatus": [{"node": e, "state": "evicting_conns"} for e in evacuations]}


class FakeEmqx:
    """global_status follows the script; stop_evacuation removes the node's entry."""

    def __init__(self, evacuating):
        self.evacuating = list(evacuating)
        self.stopped = []
        self.down = False

    def global_status(self):
        if self.down:
            raise ApiError("connection refused")
        return {"evacuations": [{"node": n, "state": "evicting_conns"} for n in self.evacuating], "rebalances": []}

    def stop_evacuation(self, node):
        if node not in self.evacuating:
            raise ApiError("400 not_started", status=400, code="BAD_REQUEST", message="not_started")
        self.evacuating.remove(node)
        self.stopped.append(node)


def params(**extra):
    out = {"name": "emqx-ee", "namespace": "default", "image": "e:1", "update_strategy": None, "spec": None, "wait": True,
           "wait_timeout": 100, "poll_interval": 1.0, "stall_timeout": 5, "allow_custom_cluster_domain": False}
    out.update(extra)
    return out


def test_an_evacuation_that_appears_before_available_is_stopped():
    # green runs e:2; while the update to e:1 starts blue, blue-1 is seen evacuating (a pod restarted on the
    # volume of a node evacuated earlier, or someone's maintenance): the operator never evacuates before Available
    emqx = FakeEmqx([])
    steps = [status(["Ready", "Available"], "g", "g", ["green-1"]),
             status(["CoreNodesProgressing"], "g", "b", ["green-1"]),
             status(["CoreNodesProgressing"], "g", "b", ["green-1", "blue-1"], ["blue-1"]),
             status(["CoreNodesProgressing"], "g", "b", ["green-1", "blue-1"]),
             status(["Available"], "g", "b", ["green-1", "blue-1"]),
             status(["Ready", "Available"], "b", "b", ["blue-1"])]
    resource = Script({"image": "e:2"}, steps[0], steps[1:])
    clock = Clock()
    original_get = resource.get

    def get(name):
        obj = original_get(name)
        emqx.evacuating = [e["node"] for e in obj["status"]["nodeEvacuationsStatus"] if e["node"] not in emqx.stopped]
        return obj

    resource.get = get
    guard = stale.StaleEvacuations(lambda: emqx, clock)
    out = logic.EmqxUpdate(resource, params(), clock=clock, sleep=clock.sleep, stale=guard).run()
    assert emqx.stopped == ["blue-1"]
    assert [s["node"] for s in out["stopped_evacuations"]] == ["blue-1"]
    assert "before the new revision is Available" in out["stopped_evacuations"][0]["reason"]
    assert out["after"]["revisions"] == {"current": "b", "update": "b"}


def test_an_evacuation_left_on_a_serving_node_is_stopped_even_when_the_new_nodes_are_available_at_once():
    # Ready on e:2 with green-2's maintenance evacuation never stopped; the change to e:1 gets new nodes that
    # are Available before the module's next look. The evacuation was there before the update: not the operator's.
    emqx = FakeEmqx(["green-2"])
    steps = [status(["Available"], "g", "b", ["green-1", "green-2", "blue-1"]),
             status(["Available"], "g", "b", ["green-1", "green-2", "blue-1"]),
             status(["Ready", "Available"], "b", "b", ["blue-1"])]
    resource = Script({"image": "e:2"}, status(["Ready", "Available"], "g", "g", ["green-1", "green-2"], ["green-2"]), steps)
    clock = Clock()
    guard = stale.StaleEvacuations(lambda: emqx, clock)
    out = logic.EmqxUpdate(resource, params(), clock=clock, sleep=clock.sleep, stale=guard).run()
    assert emqx.stopped == ["green-2"], out
    assert "already evacuating when the update began" in out["stopped_evacuations"][0]["reason"]
    # the operator then drains green-2 with an evacuation of its own: that one is left alone
    emqx.evacuating = ["green-2"]
    during = {"status": status(["Available"], "g", "b", ["green-1", "green-2", "blue-1"])}
    assert guard.check(during, {"green-1", "green-2"}, False, 9.0) == [] and emqx.stopped == ["green-2"]


def test_a_change_during_an_update_leaves_the_evacuation_in_progress_to_the_operator():
    # the task changes a resource whose update is draining: blue-1's evacuation is the operator's own
    emqx = FakeEmqx(["blue-1"])
    during = status(["Available"], "b", "g", ["blue-1", "green-1"], ["blue-1"])
    resource = Script({"image": "e:0"}, during, [during, status(["Ready", "Available"], "g", "g", ["green-1"])])
    original_get = resource.get

    def get(name):
        obj = original_get(name)
        emqx.evacuating = [e["node"] for e in obj["status"]["nodeEvacuationsStatus"]]  # blue-1 goes when it is removed
        return obj

    resource.get = get
    clock = Clock()
    guard = stale.StaleEvacuations(lambda: emqx, clock)
    out = logic.EmqxUpdate(resource, params(), clock=clock, sleep=clock.sleep, stale=guard).run()
    assert emqx.stopped == [] and out["stopped_evacuations"] == []


def test_the_operators_own_evacuation_is_left_alone():
    evacuations = [{"node": "blue-1", "state": "evicting_conns"}]
    during = status(["Available"], "b", "g", ["blue-1", "green-1"])
    assert stale.not_the_operators(evacuations, during, old_nodes={"blue-1"}, ready=False) == []
    (entry, why), = stale.not_the_operators(evacuations, during, old_nodes={"green-1"}, ready=False)
    assert entry["node"] == "blue-1" and "was not running" in why
    (_entry, why), = stale.not_the_operators(evacuations, status(["Ready"], "g", "g", ["blue-1"]), {"blue-1"}, ready=True)
    assert "finished" in why


def test_an_unreachable_emqx_api_does_not_fail_the_update_and_is_asked_again_later():
    emqx = FakeEmqx(["blue-1"])
    emqx.down = True
    clock = Clock()
    guard = stale.StaleEvacuations(lambda: emqx, clock)
    obj = {"status": status(["CoreNodesProgressing"], "g", "b", ["blue-1"])}
    assert guard.check(obj, {"green-1"}, False, 0.0) == [] and len(guard.errors) == 1
    emqx.down = False
    clock.now = 5.0
    assert guard.check(obj, {"green-1"}, False, 5.0) == []  # still quiet
    clock.now = 11.0
    assert [s["node"] for s in guard.check(obj, {"green-1"}, False, 11.0)] == ["blue-1"]


def test_without_the_emqx_api_a_foreign_evacuation_is_diagnosed():
    obj = {"spec": {}, "status": status(["CoreNodesProgressing"], "g", "b", ["blue-1"], ["blue-1"])}
    message = logic.diagnose(obj, 30, "e:1")
    assert "blue-1 evacuating" in message and "started by hand and never stopped" in message and "evacuation/stop" in message
    assert "pitfall" not in message, "a message must not point at a document the collection does not ship"
