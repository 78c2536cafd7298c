"""The k8s lab behaves as the operator version it claims (reference 5.2, pitfall 19): below 2.3 the
EMQX CRD has no evacuationStrategy.waitHealthCheck (the API server prunes it, or refuses it
under strict validation) and the simulator never sends wait_health_check, so the EMQX lab's own
60 s applies; from 2.3 on the field is kept and sent as "<N>s" when it is not 60."""
import asyncio
import types

import pytest

from emqx_lab import evacuation, schema
from k8s_lab import apiserver, bluegreen, crds, errors, openapi

pytestmark = pytest.mark.timeout(10)

V = "v2beta1"
FIELD = "spec.updateStrategy.evacuationStrategy.waitHealthCheck"


def emqx_body(wait_health_check):
    return {"metadata": {"name": "emqx-ee"}, "spec": {"image": "emqx/emqx-enterprise:5.8.6", "updateStrategy": {
        "evacuationStrategy": {"connEvictRate": 30, "waitHealthCheck": wait_health_check}}}}


def server_for(tmp_path, operator_version):
    """An API server as `labctl up k8s --operator-version V` installs it."""
    server = apiserver.ApiServer(str(tmp_path / ("objects-%s.json" % operator_version)), "token")
    server.install_crds(operator_version)
    server.seed_operator(operator_version)
    return server


def test_operator_2_2_crd_prunes_wait_health_check_with_a_warning_and_refuses_it_when_strict(tmp_path):
    s = server_for(tmp_path, "2.2.29").store
    emqx = s.definition(crds.GROUP, V, "emqxes")
    with pytest.raises(errors.ApiStatus) as caught:
        s.create(emqx, V, "default", emqx_body(2), validation="Strict")  # what kubectl apply sends
    assert caught.value.code == 400 and 'unknown field "%s"' % FIELD in caught.value.message
    s.warnings = []
    created = s.create(emqx, V, "default", emqx_body(2))
    assert created["spec"]["updateStrategy"]["evacuationStrategy"] == {"connEvictRate": 30, "sessEvictRate": 1000,
                                                                       "waitTakeover": 10}
    assert s.warnings == ['unknown field "%s"' % FIELD]
    # kubectl explain / client-side validation read the same schema
    doc = openapi.document(s.definitions.values(), crds.GROUP, V)
    evacuation_schema = doc["components"]["schemas"]["io.emqx.apps.v2beta1.EMQX"]["properties"]["spec"]["properties"][
        "updateStrategy"]["properties"]["evacuationStrategy"]
    assert sorted(evacuation_schema["properties"]) == ["connEvictRate", "sessEvictRate", "waitTakeover"]


@pytest.mark.parametrize("version", ["2.3.0", "2.3.1-rc.1", "2.4.0"])
def test_operator_2_3_crd_keeps_wait_health_check(tmp_path, version):
    s = server_for(tmp_path, version).store
    emqx = s.definition(crds.GROUP, V, "emqxes")
    s.warnings = []
    created = s.create(emqx, V, "default", emqx_body(2), validation="Strict")
    assert created["spec"]["updateStrategy"]["evacuationStrategy"]["waitHealthCheck"] == 2 and s.warnings == []


def evacuation_fields(crd):
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["updateStrategy"]["properties"]["evacuationStrategy"]["properties"]


def test_crds_follow_the_version_and_default_to_2_2():
    assert [crds.has_wait_health_check(v) for v in ("2.2.29", "2.1.0", "2.3.0", "v2.3.2", "3.0.0", "latest", None)] == [
        False, False, True, True, True, False, False]
    assert "waitHealthCheck" not in evacuation_fields(crds.EMQX)
    assert "waitHealthCheck" in evacuation_fields(crds.for_operator("2.3.0")[0])
    assert crds.for_operator("2.2.29")[1] is crds.REBALANCE  # the Rebalance CR has waitHealthCheck in 2.2 already


# the simulator's evacuation request, then what the EMQX lab makes of it ------------------------
class OneCoreLab:
    """One core node per colour; blue runs and holds sessions."""

    def __init__(self):
        self.nodes = [{"name": "%s-1@h" % c, "member": "%s-1" % c, "colour": c, "role": "core", "api_url": c}
                      for c in ("blue", "green")]
        self.running = {"blue-1@h"}

    def start(self, member, fresh=False):
        self.running.add(member + "@h")

    def stop(self, member):
        self.running.discard(member + "@h")


class RecordingEmqx:
    def __init__(self, lab):
        self.lab = lab
        self.bodies = []

    def all_nodes(self):
        return [{"node": n["name"], "node_status": "running" if n["name"] in self.lab.running else "stopped",
                 "edition": "Enterprise", "connections": 20 if n["name"] == "blue-1@h" else 0} for n in self.lab.nodes]

    def evacuations(self):
        return []

    def available(self, _url):
        return True

    def start_evacuation(self, node, body):
        self.bodies.append((node, body))


def evacuation_request(operator_version, wait_health_check):
    """The body the simulated operator POSTs to evacuate the old node after an image change."""
    lab = OneCoreLab()
    emqx = RecordingEmqx(lab)
    ticks = iter(range(1000, 2000))  # a second per reading: the operator wants more than 0 s since Available
    sim = bluegreen.BlueGreen(lab, emqx, {}, clock=lambda: float(next(ticks)), operator_version=operator_version)
    evacuation_spec = {"connEvictRate": 30, "sessEvictRate": 30, "waitTakeover": 2}
    if wait_health_check is not None:
        evacuation_spec["waitHealthCheck"] = wait_health_check
    obj = {"spec": {"image": "e:1", "updateStrategy": {"initialDelaySeconds": 0, "evacuationStrategy": evacuation_spec}}}
    obj["status"] = sim.reconcile(obj, "t0")
    obj["spec"]["image"] = "e:2"
    for _dummy in range(3):
        obj["status"] = sim.reconcile(obj, "t1")
        if emqx.bodies:
            break
    assert [node for node, _body in emqx.bodies] == ["blue-1@h"], emqx.bodies
    return emqx.bodies[0][1]


class EvacuatedNode:
    """Just enough of an EMQX lab node for its evacuation state machine, without clients."""

    def __init__(self, data_dir):
        self.name, self.version, self.data_dir = "blue-1@h", "5.8.6", str(data_dir)
        self.conns, self.agent, self.evacuation = {}, None, None

    def available_recipients(self, explicit=None):
        return list(explicit or ["green-1@h"])

    def counts(self):
        return {"live": 0, "sessions": 0}

    def enable_agent(self, kind, allow, reference):
        self.agent = {"kind": kind, "allow_connections": allow}

    def publish(self):
        pass


def emqx_waits(body, tmp_path, monkeypatch):
    """Seconds the EMQX lab sleeps through the evacuation state machine for that request body."""
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async def evacuate():
        assert evacuation.Evacuation.start(node, schema.evacuation_v5(body, node.version)) == "ok"
        await node.evacuation.task

    monkeypatch.setattr(evacuation, "asyncio", types.SimpleNamespace(
        sleep=sleep, ensure_future=asyncio.ensure_future, CancelledError=asyncio.CancelledError))
    node = EvacuatedNode(tmp_path)
    asyncio.run(evacuate())  # the REST API's validation, then the node's own defaults
    assert node.evacuation.state == "prohibiting"
    return slept


@pytest.mark.parametrize("operator_version", ["2.2.29", None])
def test_operator_2_2_never_sends_wait_health_check_so_emqx_waits_60_s(operator_version, tmp_path, monkeypatch):
    body = evacuation_request(operator_version, 2)  # even with the field in a stored spec
    assert body == {"conn_evict_rate": 30, "sess_evict_rate": 30, "migrate_to": ["green-1@h"], "wait_takeover": 2}
    assert emqx_waits(body, tmp_path, monkeypatch) == [60, 2]  # health check, then waitTakeover


def test_operator_2_3_sends_wait_health_check_as_seconds_unless_it_is_60(tmp_path, monkeypatch):
    body = evacuation_request("2.3.0", 2)
    assert body["wait_health_check"] == "2s"
    assert emqx_waits(body, tmp_path, monkeypatch) == [2, 2]
    assert "wait_health_check" not in evacuation_request("2.3.0", 60)
    assert "wait_health_check" not in evacuation_request("2.3.0", None)


class EvacuatingEmqx(RecordingEmqx):
    """blue-1 holds sessions but no connected client, and an evacuation of it is listed."""

    def all_nodes(self):
        return [dict(n, version="5.8.6", live_connections=0, uptime=5000) for n in super().all_nodes()]

    def evacuations(self):
        return [{"node": "blue-1@h", "state": "evicting_sessions", "stats": {"current_connected": 0, "current_sessions": 20}}]


@pytest.mark.parametrize("operator_version, key", [("2.2.0", "nodEvacuationsStatus"), ("2.2.25", "nodEvacuationsStatus"),
                                                   ("2.2.26", "nodeEvacuationsStatus"), ("2.2.29", "nodeEvacuationsStatus"),
                                                   ("2.3.0", "nodeEvacuationsStatus")])
def test_status_is_serialised_as_the_operator_version_does(operator_version, key):
    # apis/apps/v2beta1/status.go: the evacuations' JSON name lost its "e" until 2.2.26; EMQXNode's counts
    # are omitempty and its uptime is never serialised.
    lab = OneCoreLab()
    sim = bluegreen.BlueGreen(lab, EvacuatingEmqx(lab), {}, clock=lambda: 1000.0, operator_version=operator_version)
    status = sim.reconcile({"spec": {"image": "e:1"}}, "t0")
    assert [e["node"] for e in status[key]] == ["blue-1@h"]
    assert {"nodeEvacuationsStatus", "nodEvacuationsStatus"} & set(status) == {key}
    assert status["coreNodes"] == [{"node": "blue-1@h", "node_status": "running", "version": "5.8.6", "role": "core",
                                    "edition": "Enterprise", "connections": 20}]
