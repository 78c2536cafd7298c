"""The EMQX lab behaves as the reference describes, observed with real MQTT clients through
real HAProxy: evacuation loses nothing, a plain stop loses sessions and messages, the load
balancer follows availability_check, refused clients see 0x9C / return code 3, evacuation
survives a restart, a rebalance aborts when a participant dies, and the 4.4 API keeps its
envelope."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from emqx_lab import haproxy, mqtt
from emqx_lab.load import LoadGenerator, probe
from waiting import wait_for  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(60)


# helpers -------------------------------------------------------------------------------
class Api:
    """REST access to every node of a lab description, as the modules will use it."""

    def __init__(self, description):
        self.d = description
        creds = description["credentials"]
        self.auth = (creds["api_key"], creds["api_secret"])
        self.nodes = {n["name"]: n for n in description["nodes"]}

    def name(self, colour, index):
        return "emqx-%s-%d@127.0.0.1" % (colour, index)

    def url(self, node, path, v4=False):
        base = self.nodes[node]["api_v4_url" if v4 else "api_url"]
        return base + path

    def get(self, node, path, auth=True, **kwargs):
        return httpx.get(self.url(node, path), auth=self.auth if auth else None, timeout=10, **kwargs)

    def post(self, node, path, body=None, **kwargs):
        kwargs.setdefault("auth", self.auth)
        return httpx.post(self.url(node, path), json=body, timeout=20, **kwargs)

    def global_status(self, node):
        return self.get(node, "/api/v5/load_rebalance/global_status").json()

    def node_objects(self, node):
        return {n["node"]: n for n in self.get(node, "/api/v5/nodes").json()}


def lb_states(lab):
    return haproxy.server_states(lab.description["lb"]["runtime_socket"])


def raw_connect(port, level, client_id="lab-raw-probe"):
    """Send a CONNECT straight to a node's listener; returns (reason_code, properties)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(mqtt.connect_packet(client_id, clean_start=True, level=level))
        data = b""
        while len(data) < 2 or len(data) < 2 + data[1]:
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
    assert data[0] >> 4 == mqtt.CONNACK, data
    props = mqtt.parse_connack_properties(data) if level == 5 else {}
    return mqtt.parse_connack(data)[1], props


def load(lab, clients, rate):
    gen = LoadGenerator("127.0.0.1", lab.description["lb"]["mqtt_port"], clients=clients, rate=rate).start()
    assert gen.wait_ready(30), gen.snapshot()
    return gen


def live_by_node(api, node):
    return {name: obj.get("live_connections", 0) for name, obj in api.node_objects(node).items()}


def up_in_lb(lab, member, timeout=12):
    wait_for(lambda: lb_states(lab).get(member, "").startswith("UP"), timeout, "%s UP in HAProxy" % member)


# tests ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(60)
def test_up_status_fault_down_describe_the_cluster(lab_factory):
    lab = lab_factory("emqx", "--blue", 2, "--green", 1)
    d = lab.description
    api = Api(d)
    assert d["lab"] == "emqx" and d["api"] == "v5"
    assert {"api_key", "api_secret", "username", "password", "app_id", "app_secret"} <= set(d["credentials"])
    by_name = {n["name"]: n for n in d["nodes"]}
    blue1, green1 = api.name("blue", 1), api.name("green", 1)
    assert by_name[blue1]["status"] == "running" and by_name[blue1]["version"] == "5.8.6"
    assert by_name[green1]["status"] == "stopped" and by_name[green1]["version"] == "5.10.4"
    assert d["lb"]["servers"] == {"emqx-blue-1": blue1, "emqx-blue-2": api.name("blue", 2), "emqx-green-1": green1}
    assert os.path.exists(d["lb"]["runtime_socket"])
    assert lb_states(lab) == {"emqx-blue-1": "UP", "emqx-blue-2": "UP", "emqx-green-1": "DOWN"}
    assert probe("127.0.0.1", d["lb"]["mqtt_port"])["ok"]
    # A defined green node is not a member until it starts; then every node lists it.
    assert green1 not in api.node_objects(blue1)
    started = lab.fault("start", green1)
    assert {n["name"]: n["status"] for n in started["nodes"]}[green1] == "running"
    for node in (blue1, api.name("blue", 2), green1):
        objects = api.node_objects(node)
        assert objects[green1]["node_status"] == "running" and objects[green1]["version"] == "5.10.4"
        assert objects[green1]["edition"] == "Enterprise" and objects[green1]["role"] == "core"
    up_in_lb(lab, "emqx-green-1")
    # A stopped member stays listed as stopped; /nodes/{node} says 404 for it.
    lab.fault("stop", api.name("blue", 2))
    assert api.node_objects(blue1)[api.name("blue", 2)]["node_status"] == "stopped"
    assert api.get(blue1, "/api/v5/nodes/" + api.name("blue", 2)).status_code == 404
    pids = [n["pid"] for n in lab.status()["nodes"] if n["pid"]] + [d["lb"]["pid"], d["mosquitto"]["pid"]]
    lab.down()
    lab_dead = wait_for(lambda: all(not os.path.exists("/proc/%d" % p) for p in pids), 15, "members to exit")
    assert lab_dead


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_api_auth_validation_and_errors(lab_factory):
    lab = lab_factory("emqx", "--blue", 2, "--green", 1, "--start-green", "--blue-version", "5.3.2")
    api = Api(lab.description)
    creds = lab.description["credentials"]
    blue1, blue2, green1 = api.name("blue", 1), api.name("blue", 2), api.name("green", 1)

    missing = api.get(blue1, "/api/v5/nodes", auth=False)
    assert missing.status_code == 401 and missing.json()["code"] == "AUTHORIZATION_HEADER_ERROR"
    assert missing.headers["WWW-Authenticate"] == 'Basic Realm="emqx-dashboard"'
    bad = httpx.get(api.url(blue1, "/api/v5/nodes"), auth=("nope", "nope"))
    assert bad.status_code == 401 and bad.json()["code"] == "BAD_API_KEY_OR_SECRET"
    # Dashboard credentials are not API keys; they buy a Bearer token that works on any node.
    assert httpx.get(api.url(blue1, "/api/v5/nodes"), auth=("admin", creds["password"])).status_code == 401
    token = api.post(blue1, "/api/v5/login", {"username": "admin", "password": creds["password"]}, auth=None)
    assert token.status_code == 200 and token.json()["version"] == "5.3.2"
    bearer = {"Authorization": "Bearer " + token.json()["token"]}
    assert httpx.get(api.url(green1, "/api/v5/nodes"), headers=bearer).status_code == 200
    forged = httpx.get(api.url(green1, "/api/v5/nodes"), headers={"Authorization": "Bearer x.y"})
    assert forged.status_code == 401 and forged.json()["code"] == "BAD_TOKEN"
    viewer = (creds["viewer_api_key"], creds["viewer_api_secret"])
    assert httpx.get(api.url(blue1, "/api/v5/load_rebalance/global_status"), auth=viewer).status_code == 200
    denied = api.post(blue1, "/api/v5/load_rebalance/%s/evacuation/start" % blue1, {}, auth=viewer)
    assert denied.status_code == 403 and denied.json()["code"] == "UNAUTHORIZED_ROLE"

    # availability_check is public from 5.4.0 only.
    assert api.get(blue1, "/api/v5/load_rebalance/availability_check", auth=False).status_code == 401
    assert api.get(blue1, "/api/v5/load_rebalance/availability_check").status_code == 200
    assert api.get(green1, "/api/v5/load_rebalance/availability_check", auth=False).status_code == 200

    def start(node, body, coordinator=None, kind="evacuation/start"):
        return api.post(node, "/api/v5/load_rebalance/%s/%s" % (coordinator or node, kind), body)

    for body in ({"bogus": 1}, {"conn_evict_rate": 0}, {"wait_takeover": "soon"}, {"migrate_to": []}):
        reply = start(blue1, body, blue2)
        assert reply.status_code == 400 and reply.json()["code"] == "BAD_REQUEST", body
    for body in ({"rel_conn_threshold": 1.0}, {"conn_evict_rpc_timeout": 1000}):
        reply = start(blue1, body, blue2, "start")
        assert reply.status_code == 400 and reply.json()["code"] == "BAD_REQUEST", body
    # The same rpc timeout is fine on a 5.10 node (its answer is then about the cluster).
    reply = start(green1, {"conn_evict_rpc_timeout": "10s", "wait_health_check": "1m"}, green1, "start")
    assert reply.status_code == 400 and reply.json() == {
        "code": "BAD_REQUEST", "message": "error on node '%s': nothing_to_balance" % green1}
    reply = start(blue1, {"migrate_to": ["emqx@nowhere"]}, blue2)
    assert reply.status_code == 400 and reply.json()["code"] == "BAD_REQUEST"
    assert reply.json()["message"].startswith("Invalid nodes:")
    reply = start(blue1, {"migrate_to": [api.name("green", 1)], "wait_health_check": 60}, "emqx@nowhere")
    assert reply.status_code == 404 and reply.json() == {"code": "NOT_FOUND", "message": "Node not found: emqx@nowhere"}
    reply = api.post(blue1, "/api/v5/load_rebalance/%s/evacuation/stop" % blue2)
    assert reply.status_code == 400 and reply.json()["message"] == "error on node '%s': not_started" % blue2
    assert api.post(blue1, "/api/v5/load_rebalance/%s/purge/start" % blue2, {}).status_code == 404

    # Evacuating green-1 makes it unavailable as a recipient, and a second start is refused.
    assert start(blue1, {"wait_health_check": 30}, green1).status_code == 200
    again = start(blue2, {}, green1)
    assert again.status_code == 400 and again.json()["message"] == "error on node '%s': already_started" % green1
    unavailable = start(blue1, {"migrate_to": [green1]}, blue2)
    assert unavailable.status_code == 400 and unavailable.json() == {
        "code": "NOT_FOUND", "message": "Nodes unavailable: ['%s']" % green1}
    assert api.post(blue1, "/api/v5/load_rebalance/%s/evacuation/stop" % green1).status_code == 200

    # A member that was just killed is still counted as running until its net tick expires:
    # calls to it are RPC errors (503), then it is simply not found (404).
    os.kill(api.nodes[blue2]["pid"], signal.SIGKILL)
    time.sleep(0.2)
    reply = api.post(blue1, "/api/v5/load_rebalance/%s/evacuation/stop" % blue2)
    assert reply.status_code == 503 and reply.json()["code"] == "RPC_ERROR"
    assert reply.json()["message"].startswith("RPC error on node '%s'" % blue2)
    wait_for(lambda: api.post(blue1, "/api/v5/load_rebalance/%s/evacuation/stop" % blue2).status_code == 404,
             5, "the killed node to leave the running set")


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_evacuation_moves_clients_without_loss_but_a_plain_stop_loses_sessions(lab_factory):
    lab = lab_factory("emqx", "--blue", 3, "--green", 0)
    api = Api(lab.description)
    blue1, blue2, blue3 = (api.name("blue", i) for i in (1, 2, 3))
    gen = load(lab, 150, 150)
    before = live_by_node(api, blue3)
    assert before[blue1] > 20, before

    reply = api.post(blue3, "/api/v5/load_rebalance/%s/evacuation/start" % blue1,
                     {"wait_health_check": 5, "conn_evict_rate": 100, "sess_evict_rate": 100, "wait_takeover": 1})
    assert reply.status_code == 200 and reply.json() == {}
    local = api.get(blue1, "/api/v5/load_rebalance/status").json()
    assert local["status"] == "enabled" and local["process"] == "evacuation"
    assert local["state"] == "waiting_health_check"
    # During wait_health_check (5.4+): 503 for the LB, which takes the server out, yet the node
    # still accepts new connections.
    unavailable = api.get(blue1, "/api/v5/load_rebalance/availability_check", auth=False)
    assert unavailable.status_code == 503 and unavailable.json() == {"code": "NODE_EVACUATING",
                                                                     "message": "Node Evacuating"}
    # Checked first: the 5 s window closes sooner on a loaded machine if HAProxy's check comes first.
    assert raw_connect(api.nodes[blue1]["mqtt_port"], 5)[0] == 0
    wait_for(lambda: lb_states(lab)["emqx-blue-1"].startswith("DOWN"), 4, "HAProxy marking blue-1 DOWN")
    # Then connections are evicted and new ones refused with 0x9C / return code 3.
    wait_for(lambda: api.global_status(blue2)["evacuations"][0]["state"] != "waiting_health_check", 6,
             "eviction to begin")
    assert raw_connect(api.nodes[blue1]["mqtt_port"], 5) == (mqtt.USE_ANOTHER_SERVER, {})
    assert raw_connect(api.nodes[blue1]["mqtt_port"], 4)[0] == mqtt.V3_SERVER_UNAVAILABLE
    entry = wait_for(lambda: [e for e in api.global_status(blue2)["evacuations"] if e["state"] == "prohibiting"],
                     20, "prohibiting")[0]
    assert entry["node"] == blue1 and entry["stats"]["current_connected"] == 0
    assert entry["stats"]["current_sessions"] == 0 and entry["stats"]["initial_sessions"] >= before[blue1]
    assert sorted(entry["session_recipients"]) == [blue2, blue3]
    objects = api.node_objects(blue2)
    assert objects[blue1]["connections"] == 0 and objects[blue1]["live_connections"] == 0
    lab.fault("stop", blue1)
    time.sleep(1)
    report = gen.stop(drain_timeout=10)
    assert report["connected"] == 150
    assert report["sessions_lost"] == 0 and report["messages_lost"] == 0, report
    # before[blue1] counts the publisher too when HAProxy put it there.
    assert report["reconnects"] + report["publisher_reconnects"] >= before[blue1], (report, before)
    assert report["messages_acked"] > 300
    assert report["reasons"].get("disconnect:156", 0) > 0  # MQTT 5 clients saw DISCONNECT 0x9C

    # The same move without evacuation: blue-2's sessions die with it.
    gen = load(lab, 100, 300)
    time.sleep(0.5)
    lab.fault("stop", blue2)
    time.sleep(2)
    report = gen.stop(drain_timeout=3)
    # Messages are lost too when the publisher kept publishing while those clients had no session;
    # the publisher itself may have been on blue-2 (it connects through HAProxy) and stopped for as
    # long as they did, so only the sessions are certain.
    assert report["sessions_lost"] > 0, report


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_evacuation_survives_restart_and_v5_redirect_to_is_ignored(lab_factory):
    lab = lab_factory("emqx", "--blue", 2, "--green", 0)
    api = Api(lab.description)
    blue1, blue2 = api.name("blue", 1), api.name("blue", 2)
    reply = api.post(blue2, "/api/v5/load_rebalance/%s/evacuation/start" % blue1,
                     {"wait_health_check": 60, "wait_takeover": 30, "conn_evict_rate": 7,
                      "redirect_to": "127.0.0.1:1883", "migrate_to": [blue2]})
    assert reply.status_code == 200
    marker = os.path.join(lab.description["nodes"][0]["data_dir"], ".evacuation")
    assert json.load(open(marker))["wait_takeover"] == 30
    lab.fault("restart", blue1)
    # Resumed straight in evicting_conns (no wait_health_check), migrate_to reset to "all others".
    local = api.get(blue1, "/api/v5/load_rebalance/status").json()
    assert local["state"] in ("evicting_conns", "waiting_takeover"), local
    assert local["connection_eviction_rate"] == 7 and local["session_recipients"] == [blue2]
    assert api.get(blue1, "/api/v5/load_rebalance/availability_check", auth=False).status_code == 503
    assert raw_connect(api.nodes[blue1]["mqtt_port"], 5) == (mqtt.USE_ANOTHER_SERVER, {})
    with open(os.path.join(lab.workdir, "logs", "emqx-blue-1.log")) as log:
        assert "Node evacuation is enabled. The node will not receive connections." in log.read()
    assert api.post(blue2, "/api/v5/load_rebalance/%s/evacuation/stop" % blue1).status_code == 200
    assert not os.path.exists(marker)
    assert api.get(blue1, "/api/v5/load_rebalance/status").json() == {"status": "disabled"}
    assert raw_connect(api.nodes[blue1]["mqtt_port"], 5)[0] == 0
    assert api.global_status(blue2) == {"evacuations": [], "purges": [], "rebalances": []}


@pytest.mark.timeout(60)
def test_session_recipients_are_those_of_migrate_to_that_can_take_sessions_now(lab_factory):
    # EMQX keeps migrate_to as started and works out on every status call which of those nodes run with
    # their eviction agent off (apps/emqx_node_rebalance/src/emqx_node_rebalance_evacuation.erl, migrate_to/1).
    lab = lab_factory("emqx", "--blue", 3, "--green", 0)
    api = Api(lab.description)
    blue1, blue2, blue3 = (api.name("blue", i) for i in (1, 2, 3))
    reply = api.post(blue2, "/api/v5/load_rebalance/%s/evacuation/start" % blue1,
                     {"wait_health_check": 60, "migrate_to": [blue2, blue3]})
    assert reply.status_code == 200

    def recipients():
        return next(e for e in api.global_status(blue2)["evacuations"] if e["node"] == blue1)["session_recipients"]

    assert sorted(recipients()) == [blue2, blue3]
    # what a node does reaches the others with its next heartbeat (every 0.5 s)
    lab.fault("stop", blue3)
    wait_for(lambda: recipients() == [blue2], 5, "the stopped blue-3 to leave the recipients")
    lab.fault("start", blue3)
    wait_for(lambda: sorted(recipients()) == [blue2, blue3], 5, "the restarted blue-3 to be a recipient again")
    # a recipient that is itself being evacuated takes no sessions either
    assert api.post(blue2, "/api/v5/load_rebalance/%s/evacuation/start" % blue3, {"wait_health_check": 60}).status_code == 200
    wait_for(lambda: recipients() == [blue2], 5, "the evacuating blue-3 to leave the recipients")
    for node in (blue1, blue3):
        assert api.post(blue2, "/api/v5/load_rebalance/%s/evacuation/stop" % node).status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_rebalance_aborts_when_a_participant_dies_then_balances(lab_factory):
    lab = lab_factory("emqx", "--blue", 2, "--green", 3)
    api = Api(lab.description)
    blue1, blue2 = api.name("blue", 1), api.name("blue", 2)
    green1, green2, green3 = (api.name("green", i) for i in (1, 2, 3))
    gen = load(lab, 120, 100)
    for green in (green1, green2, green3):
        lab.fault("start", green)
    for member in ("emqx-green-1", "emqx-green-2", "emqx-green-3"):
        up_in_lb(lab, member)
    everyone = [blue1, blue2, green1, green2, green3]
    # Default thresholds (1000 / 1.1) find nothing to do on a small cluster.
    reply = api.post(blue1, "/api/v5/load_rebalance/%s/start" % blue1, {"nodes": everyone})
    assert reply.status_code == 400 and reply.json()["message"] == "error on node '%s': nothing_to_balance" % blue1

    def donors_accept_again():
        wait_for(lambda: not api.global_status(blue2)["rebalances"], 6, "the aborted rebalance to vanish")
        for donor in (blue1, blue2):
            wait_for(lambda: api.get(donor, "/api/v5/load_rebalance/availability_check").status_code == 200, 3,
                     "donor %s to accept load again" % donor)
        counts = live_by_node(api, blue1)
        assert counts[blue1] + counts[blue2] > 100, counts  # nothing moved

    # A health-check wait far longer than the checks below take, even on a loaded machine: the
    # kills in 1. and 2. must land before any eviction, and they abort at once, so it costs nothing.
    body = {"nodes": everyone, "wait_health_check": 20, "wait_takeover": 1, "conn_evict_rate": 10,
            "sess_evict_rate": 10, "abs_conn_threshold": 5, "abs_sess_threshold": 5}
    # 1. The coordinator (here a recipient, green-3) dies: the donors' agents go with it.
    assert api.post(blue1, "/api/v5/load_rebalance/%s/start" % green3, body).status_code == 200
    entry = api.global_status(green1)["rebalances"][0]
    assert entry["node"] == entry["coordinator_node"] == green3 and entry["state"] == "wait_health_check"
    assert sorted(entry["donors"]) == [blue1, blue2] and sorted(entry["recipients"]) == [green1, green2, green3]
    assert "connection_goal" not in entry and entry["connection_eviction_rpc_timeout"] == 15000
    donor = api.get(blue2, "/api/v5/load_rebalance/status").json()
    assert donor["process"] == "rebalance" and donor["coordinator_node"] == green3
    assert "connection_eviction_rpc_timeout" not in donor  # a 5.8 donor has no rpc timeouts
    assert api.get(blue2, "/api/v5/load_rebalance/availability_check", auth=False).status_code == 503
    assert api.get(green1, "/api/v5/load_rebalance/status").json() == {"status": "disabled"}
    # Donors are busy now: naming them again fails validation; without a list the coordinator says so.
    again = api.post(blue1, "/api/v5/load_rebalance/%s/start" % blue1, body)
    assert again.status_code == 400 and again.json()["code"] == "NOT_FOUND"
    again = api.post(green1, "/api/v5/load_rebalance/%s/start" % green3, {})
    assert again.status_code == 400 and again.json()["message"] == "error on node '%s': already_started" % green3
    lab.fault("kill", green3)
    donors_accept_again()

    # 2. A recipient dies while the coordinator waits: the coordinator aborts.
    body["nodes"] = [blue1, blue2, green1, green2]
    assert api.post(blue1, "/api/v5/load_rebalance/%s/start" % blue1, body).status_code == 200
    lab.fault("kill", green2)
    donors_accept_again()

    # 3. Among the survivors it runs to the end: the entry vanishes and the load is spread.
    body["nodes"] = [blue1, blue2, green1]
    body["wait_health_check"] = 1
    assert api.post(blue2, "/api/v5/load_rebalance/%s/start" % blue1, body).status_code == 200
    wait_for(lambda: api.global_status(blue2)["rebalances"] and
             api.global_status(blue2)["rebalances"][0].get("connection_goal") is not None, 10, "connection goal")
    wait_for(lambda: not api.global_status(blue2)["rebalances"], 40, "the rebalance to finish")
    counts = live_by_node(api, blue1)
    donor_avg = (counts[blue1] + counts[blue2]) / 2.0
    assert donor_avg <= counts[green1] + 5, counts
    assert counts[green1] > 20, counts
    report = gen.stop(drain_timeout=10)
    assert report["sessions_lost"] == 0 and report["messages_lost"] == 0, report


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_rebalance_goals_are_reported_only_from_a_tick_that_evicts(lab_factory):
    """EMQX keeps a tick's averages only when the donors are above the goal and it evicts
    (apps/emqx_node_rebalance/src/emqx_node_rebalance.erl: evict_conns/1 returns `ok` with the data
    unchanged when within thresholds), and the status shows connection_goal and donor_conn_avg only
    once kept (emqx_node_rebalance_status.erl). Here the donor's clients leave during the health-check
    wait: the connection phase finds nothing to do, so the goals never appear."""
    lab = lab_factory("emqx", "--blue", 2, "--green", 0)
    api = Api(lab.description)
    blue1, blue2 = api.name("blue", 1), api.name("blue", 2)
    port = next(n["mqtt_port"] for n in lab.description["nodes"] if n["name"] == blue1)
    gen = LoadGenerator("127.0.0.1", port, clients=40, rate=5).start()
    assert gen.wait_ready(30), gen.snapshot()
    body = {"nodes": [blue1, blue2], "wait_health_check": 4, "wait_takeover": 30, "conn_evict_rate": 10,
            "sess_evict_rate": 10, "abs_conn_threshold": 5, "abs_sess_threshold": 5}
    assert api.post(blue2, "/api/v5/load_rebalance/%s/start" % blue2, body).status_code == 200
    gen.stop(drain_timeout=2)  # persistent sessions: they stay on blue1, disconnected
    entry = wait_for(lambda: next((e for e in api.global_status(blue2)["rebalances"] if e["state"] == "wait_takeover"), None),
                     20, "the connection phase to end")
    assert not {"connection_goal", "donor_conn_avg"} & set(entry), entry
    donor = api.get(blue1, "/api/v5/load_rebalance/status").json()
    assert donor["process"] == "rebalance" and "connection_goal" not in donor, donor
    assert api.post(blue2, "/api/v5/load_rebalance/%s/stop" % blue2).status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_v4_api_envelope_and_redirect(lab_factory):
    lab = lab_factory("emqx", "--blue", 2, "--green", 0, "--api", "v4", "--blue-version", "4.4.23")
    d = lab.description
    creds = d["credentials"]
    app = (creds["app_id"], creds["app_secret"])
    n1, n2 = d["nodes"][0], d["nodes"][1]
    assert n1["version"] == "4.4.23" and n1["api_v4_url"]
    v4 = n1["api_v4_url"] + "/api/v4"
    nodes = httpx.get(v4 + "/nodes", auth=app).json()
    assert nodes["code"] == 0 and {n["node_status"] for n in nodes["data"]} == {"Running"}
    stats = httpx.get(v4 + "/stats", auth=app).json()
    assert stats["code"] == 0 and "connections.count" in stats["data"][0]["stats"]
    assert httpx.get(v4 + "/nodes", auth=("admin", "wrong")).status_code == 401
    # Before 4.4.24 availability_check needs auth.
    assert httpx.get(v4 + "/load_rebalance/availability_check").status_code == 401
    assert httpx.get(v4 + "/load_rebalance/availability_check", auth=app).status_code == 200
    assert httpx.get(v4 + "/load_rebalance/status", auth=app).json() == {"status": "disabled"}

    start = v4 + "/load_rebalance/%s/evacuation/start" % n2["name"]
    body = {"conn_evict_rate": 5, "sess_evict_rate": 5, "wait_takeover": 5, "redirect_to": "127.0.0.1:1884",
            "migrate_to": [n1["name"]]}
    assert httpx.post(start, json=dict(body, wait_takeover="5s"), auth=app).json()["code"] == 400
    # validate_pos_int (emqx_node_rebalance_api.erl on the 4.x lines): 0 is no "no wait" there
    assert httpx.post(start, json=dict(body, wait_takeover=0), auth=app).json() == {"code": 400, "message": "invalid wait_takeover value"}
    reply = httpx.post(start, json=body, auth=app)
    assert reply.status_code == 200 and reply.json() == {"code": 0, "data": []}
    again = httpx.post(start, json=body, auth=app)
    assert again.status_code == 200 and again.json() == {"code": 400, "message": "already_started"}
    status = httpx.get(v4 + "/load_rebalance/global_status", auth=app).json()
    assert "code" not in status and status["evacuations"][0]["node"] == n2["name"]
    assert status["evacuations"][0]["state"] in ("evicting_conns", "waiting_takeover")
    # The 4.x API passes redirect_to on as the MQTT 5 Server Reference.
    reason, props = raw_connect(n2["mqtt_port"], 5)
    assert reason == mqtt.USE_ANOTHER_SERVER and props[mqtt.PROP_SERVER_REFERENCE] == b"127.0.0.1:1884"
    stop = httpx.post(v4 + "/load_rebalance/%s/evacuation/stop" % n2["name"], auth=app)
    assert stop.json() == {"code": 0, "data": []}


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_lab_holds_a_thousand_clients(lab_factory):
    lab = lab_factory("emqx", "--blue", 3, "--green", 0)
    api = Api(lab.description)
    out = os.path.join(lab.workdir, "load.json")
    ready = os.path.join(lab.workdir, "load.ready")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emqx_lab.load", "--port", str(lab.description["lb"]["mqtt_port"]),
         "--clients", "1000", "--rate", "200", "--connect-rate", "400", "--max-runtime", "60",
         "--out", out, "--ready-file", ready],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    try:
        wait_for(lambda: os.path.exists(ready), 30, "1,000 clients subscribed", interval=0.5)
        time.sleep(3)
        totals = api.get(api.name("blue", 1), "/api/v5/stats", params={"aggregate": "true"}).json()
        assert totals["live_connections.count"] >= 1000 and totals["subscriptions.count"] >= 1000, totals
        spread = live_by_node(api, api.name("blue", 2))
        assert all(count > 250 for count in spread.values()), spread
    finally:
        proc.terminate()
        proc.wait(40)
    report = json.load(open(out))
    assert report["connected"] == 1000 and report["sessions_lost"] == 0, report
    assert report["messages_lost"] == 0 and report["messages_acked"] > 500, report
