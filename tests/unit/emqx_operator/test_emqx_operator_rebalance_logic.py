"""The Rebalance CR logic without a network: the lab's API-server store stands in for the
cluster and a scripted 'operator' advances the phase between polls."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError,
    TerminalFailure,
    ValidationError,
    WaitTimeout,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import rebalance as logic
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.emqx import emqx_api_factory, emqx_params
from k8s_lab import crds, errors, store, webhooks
from operator_fakes import Clock  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(10)

NS = "default"
V = "v2beta1"


class StoreObjects:
    """resources.Objects' interface over the lab's store; ``on_poll`` plays the operator."""

    def __init__(self, on_poll=None):
        self.store = store.Store(None, admission=list(webhooks.ALL))
        for crd in crds.ALL:
            self.store.create(store.CRD_DEFINITION, store.CRD_VERSION, None, crd)
        self.definition = self.store.definition(crds.GROUP, V, "rebalances")
        self.on_poll = on_poll
        self.writes = []

    def get(self, name):
        if self.on_poll:
            self.on_poll(self)
        try:
            return self.store.get(self.definition, V, NS, name)
        except errors.ApiStatus as exc:
            if exc.code == 404:
                return None
            raise ApiError(exc.message, status=exc.code)

    def create(self, body):
        self.writes.append(("create", body["metadata"]["name"]))
        return self.store.create(self.definition, V, NS, body)

    def delete(self, name):
        self.writes.append(("delete", name))
        self.store.delete(self.definition, V, NS, name)
        return True

    def status(self, name, status):
        self.store.patch(self.definition, V, NS, name, "application/merge-patch+json", {"status": status}, subresource="status")


def params(**extra):
    out = {"name": "rb", "namespace": NS, "state": "present", "instance_name": "emqx-ee", "instance_kind": "EMQX",
           "conn_evict_rate": 10, "recreate": False, "wait": True, "wait_timeout": 60, "poll_interval": 1.0}
    out.update(extra)
    return out


def runner(objects, clock=None, **kwargs):
    clock = clock or Clock()
    return logic.OperatorRebalance(objects, kwargs.pop("p", params()), version=kwargs.pop("version", V), clock=clock,
                                   sleep=clock.sleep, **kwargs)


def scripted(phases):
    """An on_poll hook that applies the next status each time the CR is read (once it exists)."""
    queue = list(phases)

    def on_poll(objects):
        try:
            objects.store.get(objects.definition, V, NS, "rb")
        except errors.ApiStatus:
            return
        if queue:
            objects.status("rb", queue.pop(0))

    return on_poll


PROCESSING = {"phase": "Processing", "rebalanceStates": [{"state": "evicting_conns", "donors": ["a", "b"], "recipients": ["c"]}]}
COMPLETED = {"phase": "Completed", "rebalanceStates": None}


class FakeEmqxApi:
    def __init__(self, nodes, rebalances=()):
        self._nodes = nodes
        self._rebalances = list(rebalances)  # global_status answers, one per call; [] once they run out
        self.client = self
        self.closed = False

    def nodes(self):
        return self._nodes

    def global_status(self):
        return {"evacuations": [], "rebalances": self._rebalances.pop(0) if self._rebalances else [], "purges": []}

    def stop_rebalance(self, coordinator):
        self.stopped = getattr(self, "stopped", []) + [coordinator]

    def close(self):
        self.closed = True


def node(name, live, sessions=None, status="running", role="core"):
    return {"name": name, "status": status, "role": role, "live_connections": live,
            "sessions": live if sessions is None else sessions}


def test_desired_spec_sends_only_what_was_given_and_checks_ranges():
    spec = logic.desired_spec(params(rel_conn_threshold="1.2", wait_takeover=0), V)
    assert spec == {"instanceName": "emqx-ee", "instanceKind": "EMQX",
                    "rebalanceStrategy": {"connEvictRate": 10, "relConnThreshold": "1.2", "waitTakeover": 0}}
    # "1_5" and "inf" are Python floats but not what the operator's webhook (Go's ParseFloat) or EMQX take
    for bad in ({"rel_conn_threshold": "1.0"}, {"rel_sess_threshold": "x"}, {"rel_conn_threshold": "1_5"}, {"rel_sess_threshold": "inf"},
                {"conn_evict_rate": 0}, {"wait_takeover": -1}):
        with pytest.raises(ValidationError):
            logic.desired_spec(params(**bad), V)
    with pytest.raises(ValidationError, match="EmqxEnterprise"):
        logic.desired_spec(params(), "v1beta4")
    assert "instanceKind" not in logic.desired_spec(params(instance_kind="EmqxEnterprise"), "v1beta4")


def test_server_defaults_are_not_differences_but_changed_fields_are():
    current = {"instanceName": "emqx-ee", "instanceKind": "EMQX",
               "rebalanceStrategy": {"connEvictRate": 10, "sessEvictRate": 500, "relConnThreshold": "1.10"}}
    assert logic.spec_differences(current, logic.desired_spec(params(rel_conn_threshold="1.1"), V)) == []
    assert logic.spec_differences(current, logic.desired_spec(params(sess_evict_rate=50), V)) == [
        "rebalanceStrategy.sessEvictRate: 500 -> 50"]


def test_create_then_wait_through_processing_to_completed():
    objects = StoreObjects(scripted([PROCESSING, PROCESSING, COMPLETED]))
    out = runner(objects).run()
    assert out["changed"] is True and out["after"]["phase"] == "Completed"
    assert [s["phase"] for s in out["timeline"]][-1] == "Completed"
    assert {"phase": "Processing", "state": "evicting_conns", "donors": 2, "recipients": 1}.items() <= out["timeline"][1].items()
    assert out["rebalance_outcome"] is None
    assert objects.writes == [("create", "rb")]


def test_failed_phase_is_terminal_with_the_operator_message():
    objects = StoreObjects(scripted([{"phase": "Failed", "conditions": [
        {"type": "Failed", "status": "True", "message": "EMQX emqx-ee is not ready"}]}]))
    with pytest.raises(TerminalFailure, match="EMQX emqx-ee is not ready"):
        runner(objects).run()


LOST = {"phase": "Failed", "rebalanceStates": None, "conditions": [
    {"type": "Failed", "status": "True", "message": "Failed to get rebalance status: request api failed: 503 Service Unavailable"}]}
STILL_RUNNING = [{"state": "evicting_conns", "coordinator_node": "a", "donors": ["a"], "recipients": ["b", "c"]}]


def test_an_operator_that_lost_track_is_replaced_by_following_emqx_to_its_end():
    """One failed status read makes the operator mark the CR Failed for good while EMQX goes on
    rebalancing: with EMQX access the module follows EMQX and judges the end itself."""
    objects = StoreObjects(scripted([PROCESSING, LOST]))
    api = FakeEmqxApi([node("a", 340), node("b", 330), node("c", 300)], rebalances=[STILL_RUNNING, STILL_RUNNING, []])
    out = runner(objects, p=params(abs_conn_threshold=50), emqx_api=lambda: api).run()
    assert out["followed"] == "emqx" and out["rebalance_outcome"] == "balanced"
    assert out["operator_verdict"] == {"phase": "Failed", "message": LOST["conditions"][0]["message"]}
    assert "lost track" in out["warnings"][0] and "Delete the CR" in out["warnings"][0]
    assert [p.get("emqx_state") for p in out["timeline"] if "emqx_state" in p] == ["evicting_conns", "evicting_conns", "ended"]
    assert set(out["balance"]["connections"]) == {"a", "b", "c"}


def test_an_operator_that_lost_track_fails_the_task_with_the_way_out_without_emqx_access():
    objects = StoreObjects(scripted([PROCESSING, LOST]))
    with pytest.raises(TerminalFailure) as caught:
        runner(objects).run()
    message = str(caught.value)
    assert "503 Service Unavailable" in message and "goes on rebalancing" in message
    assert "deleting the CR does not stop it" in message and "emqx_api_url" in message and "state=absent" in message


NOT_READY_MID_RUN = {"phase": "Failed", "conditions": [
    {"type": "Failed", "status": "True", "message": "EMQX emqx-ee is not ready"},
    {"type": "Processing", "status": "True"}]}


def test_a_rebalance_failed_because_its_donors_made_emqx_not_ready_is_followed_to_its_end():
    """Operator 2.2: donors answer 503 to availability_check, the EMQX resource loses Ready, and the
    Rebalance controller, which checks Ready first, fails a Processing rebalance that EMQX goes on with."""
    objects = StoreObjects(scripted([PROCESSING, NOT_READY_MID_RUN]))
    api = FakeEmqxApi([node("a", 340), node("b", 330), node("c", 300)], rebalances=[STILL_RUNNING, []])
    out = runner(objects, p=params(abs_conn_threshold=50), emqx_api=lambda: api).run()
    assert out["followed"] == "emqx" and out["rebalance_outcome"] == "balanced"
    assert out["operator_verdict"] == {"phase": "Failed", "message": "EMQX emqx-ee is not ready"}
    assert "lost Ready while the rebalance ran" in out["warnings"][0] and "503" in out["warnings"][0]
    with pytest.raises(TerminalFailure) as caught:
        runner(StoreObjects(scripted([PROCESSING, NOT_READY_MID_RUN]))).run()
    assert "readiness gate" in str(caught.value) and "emqx_api_url" in str(caught.value)
    assert "zerodowntime.cluster.emqx_rebalance also runs a rebalance" in str(caught.value)


def test_emqx_still_rebalancing_after_the_operator_lost_track_times_out_naming_it():
    objects = StoreObjects(scripted([LOST]))
    api = FakeEmqxApi([node("a", 10)], rebalances=[STILL_RUNNING] * 100)
    with pytest.raises(WaitTimeout, match="EMQX is still rebalancing: evicting_conns on a"):
        runner(objects, p=params(wait_timeout=5), emqx_api=lambda: api).run()


def test_wait_timeout_names_the_phase():
    objects = StoreObjects(scripted([PROCESSING]))
    with pytest.raises(WaitTimeout, match="phase Processing"):
        runner(objects, p=params(wait_timeout=5)).run()


def test_existing_with_same_spec_is_unchanged_and_not_rechecked():
    objects = StoreObjects()
    runner(objects, p=params(wait=False)).run()
    objects.status("rb", COMPLETED)
    api = FakeEmqxApi([node("a", 500), node("b", 0)])
    out = runner(objects, emqx_api=lambda: api).run()
    assert out["changed"] is False and out["rebalance_outcome"] is None
    assert objects.writes == [("create", "rb")]


def test_changed_spec_fails_unless_recreate():
    objects = StoreObjects()
    runner(objects, p=params(wait=False)).run()
    with pytest.raises(ValidationError, match="immutable") as caught:
        runner(objects, p=params(wait=False, conn_evict_rate=99)).run()
    assert caught.value.details["differences"] == ["rebalanceStrategy.connEvictRate: 10 -> 99"]
    predicted = logic.OperatorRebalance(objects, params(wait=False, conn_evict_rate=99, recreate=True), check_mode=True,
                                        version=V).run()
    assert predicted["changed"] and predicted["recreated"] and objects.writes == [("create", "rb")]
    out = runner(objects, p=params(wait=False, conn_evict_rate=99, recreate=True)).run()
    assert out["recreated"] is True and objects.writes[-2:] == [("delete", "rb"), ("create", "rb")]
    assert out["after"]["spec"]["rebalanceStrategy"]["connEvictRate"] == 99


def test_balanced_outcome_uses_the_crs_thresholds_and_the_participants_seen():
    objects = StoreObjects(scripted([PROCESSING, COMPLETED]))
    api = FakeEmqxApi([node("a", 340), node("b", 330), node("c", 300), node("outsider", 0)])
    out = runner(objects, p=params(abs_conn_threshold=50), emqx_api=lambda: api).run()
    assert out["rebalance_outcome"] == "balanced"
    assert set(out["balance"]["connections"]) == {"a", "b", "c"}
    assert out["balance"]["thresholds"]["abs_conn_threshold"] == 50.0
    assert api.closed


def test_a_rebalance_over_before_the_operators_first_look_is_judged_on_the_replicants_it_ran_on():
    """The operator first fills rebalanceStates 5 s after the start; a shorter rebalance never names
    its participants. It ran on the replicants (cores only without replicants): the cores, which
    hold no clients, are not part of the verdict."""
    objects = StoreObjects(scripted([{"phase": "Processing"}, COMPLETED]))
    api = FakeEmqxApi([node("core-1", 0), node("core-2", 0), node("r1", 310, role="replicant"),
                       node("r2", 300, role="replicant")])
    out = runner(objects, p=params(abs_conn_threshold=50), emqx_api=lambda: api).run()
    assert out["rebalance_outcome"] == "balanced"
    assert set(out["balance"]["connections"]) == {"r1", "r2"}


def test_completed_but_unbalanced_is_reported_as_aborted():
    objects = StoreObjects(scripted([PROCESSING, COMPLETED]))
    api = FakeEmqxApi([node("a", 900), node("b", 880), node("c", 10)])
    with pytest.raises(TerminalFailure, match="aborted") as caught:
        runner(objects, p=params(abs_conn_threshold=100), emqx_api=lambda: api).run()
    assert caught.value.details["rebalance_outcome"] == "aborted"


def test_completed_with_a_stopped_participant_is_aborted():
    objects = StoreObjects(scripted([PROCESSING, COMPLETED]))
    api = FakeEmqxApi([node("a", 10), node("b", 10, status="stopped"), node("c", 10)])
    with pytest.raises(TerminalFailure, match="participant"):
        runner(objects, emqx_api=lambda: api).run()


def test_absent_deletes_and_waits_until_the_finalizer_is_released():
    released = {"polls": 0}

    def operator(objects):
        obj = objects.store.objects.get((crds.GROUP, "rebalances", NS, "rb"))
        if obj and obj["metadata"].get("deletionTimestamp"):
            released["polls"] += 1
            if released["polls"] == 3:
                objects.store.patch(objects.definition, V, NS, "rb", "application/merge-patch+json",
                                    {"metadata": {"finalizers": None}})

    objects = StoreObjects(operator)
    objects.store.create(objects.definition, V, NS, {"metadata": {"name": "rb", "finalizers": ["apps.emqx.io/finalizer"]},
                                                     "spec": {"instanceName": "e", "rebalanceStrategy": {"connEvictRate": 1}}})
    objects.status("rb", COMPLETED)
    clock = Clock()
    out = runner(objects, clock, p=params(state="absent")).run()
    assert out["changed"] is True and out["after"] is None and clock.now >= 1.0
    assert runner(objects, p=params(state="absent")).run()["changed"] is False


def finalized(objects, status=None):
    objects.store.create(objects.definition, V, NS, {"metadata": {"name": "rb", "finalizers": ["apps.emqx.io/finalizer"]},
                                                     "spec": {"instanceName": "emqx-ee", "rebalanceStrategy": {"connEvictRate": 1}}})
    if status:
        objects.status("rb", status)


def test_a_rebalance_the_operator_has_not_looked_at_yet_is_deleted_only_after_its_first_look():
    """A 2.2 operator stops a deleted Processing rebalance at rebalanceStates[0]; before its first
    look (5 s after the start) that index does not exist and the operator process panics."""
    seen = {"at_delete": None, "polls": 0}

    def operator(objects):
        obj = objects.store.objects.get((crds.GROUP, "rebalances", NS, "rb"))
        if obj is None:
            return
        if obj["metadata"].get("deletionTimestamp"):
            objects.store.patch(objects.definition, V, NS, "rb", "application/merge-patch+json", {"metadata": {"finalizers": None}})
            return
        seen["polls"] += 1
        if seen["polls"] == 2:  # the operator starts it: Processing, nothing named yet
            objects.status("rb", {"phase": "Processing"})
        if seen["polls"] == 4:  # the operator's first look
            objects.status("rb", PROCESSING)

    objects = StoreObjects(operator)
    finalized(objects)  # the operator has put its finalizer on and is starting it
    delete = objects.delete

    def recording_delete(name):
        seen["at_delete"] = objects.store.get(objects.definition, V, NS, name)["status"]
        return delete(name)

    objects.delete = recording_delete
    out = runner(objects, p=params(state="absent")).run()
    assert out["changed"] is True and out["after"] is None
    assert seen["at_delete"]["rebalanceStates"], "deleted before the operator named the coordinator"


def test_a_finalizer_held_while_the_target_is_not_ready_is_said_at_once_and_emqx_is_stopped():
    """The operator checks Ready before the deletion branch: it keeps the finalizer and marks the
    Rebalance Failed, so it would never stop it. The module stops EMQX's rebalance itself."""
    def operator(objects):
        obj = objects.store.objects.get((crds.GROUP, "rebalances", NS, "rb"))
        if obj and obj["metadata"].get("deletionTimestamp"):
            objects.status("rb", {"phase": "Failed", "conditions": [
                {"type": "Failed", "status": "True", "message": "EMQX emqx-ee is not ready",
                 "lastUpdateTime": obj["metadata"]["deletionTimestamp"]}]})

    objects = StoreObjects(operator)
    finalized(objects, PROCESSING)
    api = FakeEmqxApi([], rebalances=[[{"state": "evicting_conns", "coordinator_node": "emqx@a"}]])
    with pytest.raises(TerminalFailure) as caught:
        runner(objects, p=params(state="absent"), emqx_api=lambda: api).run()
    message = str(caught.value)
    assert "keeps its finalizer while the target is not Ready (EMQX emqx-ee is not ready)" in message
    assert "stopped EMQX's rebalance through its API (coordinator emqx@a)" in message and api.stopped == ["emqx@a"]
    # without EMQX access: the same diagnosis, and how to stop it
    objects = StoreObjects(operator)
    finalized(objects, PROCESSING)
    with pytest.raises(TerminalFailure, match="EMQX may still be rebalancing: stop it with zerodowntime.cluster.emqx_rebalance"):
        runner(objects, p=params(state="absent")).run()


def test_missing_inputs_for_present():
    with pytest.raises(ValidationError, match="instance_name and conn_evict_rate"):
        runner(StoreObjects(), p=params(conn_evict_rate=None)).run()


def test_emqx_api_is_optional_and_mapped_to_the_emqx_connection_options():
    assert emqx_api_factory({"emqx_api_url": None}) is None
    mapped = emqx_params({"emqx_api_url": "https://e:18083", "emqx_api_key": "k", "emqx_api_secret": "s",
                          "emqx_validate_certs": False, "emqx_ca_path": None})
    assert mapped["api_url"] == "https://e:18083" and mapped["validate_certs"] is False and mapped["api_secret"] == "s"
