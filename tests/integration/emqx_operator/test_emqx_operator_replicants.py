"""The EMQX Operator modules on an EMQX cluster with replicants, under MQTT load: after a
replicant scale-out the Rebalance moves clients between replicants only (reference 5.6); then
emqx_operator_update, where the operator drains the old replicants first, then the old core
nodes (reference 5.5), each into the new replicants, and no session is lost - neither of the
clients behind the listeners (replicants) nor of those whose sessions were left on a core node."""
import shutil
import threading

import pytest

pytest.importorskip("kubernetes")
paho = pytest.importorskip("paho.mqtt.client")
httpx = pytest.importorskip("httpx")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from kubectl_run import FRESH_STATUS  # noqa: E402  pylint: disable=import-error,wrong-import-position
import ansible_run  # noqa: E402  pylint: disable=import-error,wrong-import-position
from emqx_lab import haproxy  # noqa: E402  pylint: disable=import-error,wrong-import-position
from emqx_lab.load import SESSION_EXPIRY, LoadGenerator  # noqa: E402  pylint: disable=import-error,wrong-import-position
from test_emqx_operator_update_module import FAST, create_ready, run  # noqa: E402  pylint: disable=import-error
from waiting import wait_for  # noqa: E402  pylint: disable=import-error

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

NEW = "emqx/emqx-enterprise:5.10.4"


def resumes_session(port, client_id, timeout=10.0):
    """Connect as ``client_id`` without a clean start: does the broker still hold its session?"""
    answer = {}
    connected = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)

    def on_connect(_client, _userdata, flags, reason_code, _properties):
        answer.update(present=flags.session_present, refused=reason_code.is_failure)
        connected.set()

    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY
    client.connect("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert connected.wait(timeout), "no CONNACK for %s" % client_id
    finally:
        client.disconnect()
        client.loop_stop()
    return not answer["refused"] and answer["present"]


def sessions_by_node(emqx, via):
    creds = emqx["credentials"]
    reply = httpx.get(via["api_url"] + "/api/v5/nodes", auth=(creds["api_key"], creds["api_secret"]), timeout=10)
    return {n["node"]: n.get("connections", 0) for n in reply.json() if n.get("node_status") == "running"}


def scale_out_and_rebalance(lab, new_replicant, via):
    """A new replicant joins (no clients yet); a Rebalance spreads the clients onto it."""
    emqx = lab.description["emqx"]
    creds = emqx["credentials"]
    lab.fault("start", new_replicant["member"])
    wait_for(lambda: haproxy.server_states(emqx["lb"]["runtime_socket"]).get(new_replicant["member"], "").startswith("UP"),
             20, "the new replicant UP behind the listeners")
    return ansible_run.run_module("emqx_operator_rebalance", {
        "kubeconfig": lab.description["kubeconfig"], "name": "after-scale-out", "instance_name": "emqx-ee",
        "conn_evict_rate": 10, "sess_evict_rate": 10, "wait_takeover": 1, "wait_health_check": 1,
        "abs_conn_threshold": 5, "abs_sess_threshold": 5, "rel_conn_threshold": "1.1", "rel_sess_threshold": "1.1",
        "emqx_api_url": via["api_url"], "emqx_api_key": creds["api_key"], "emqx_api_secret": creds["api_secret"],
        "emqx_validate_certs": False, "wait_timeout": 60, "poll_interval": 0.5})


@pytest.mark.slow
def test_rebalance_after_scale_out_then_update_drains_replicants_before_core_without_session_loss(lab_factory):
    # fast evacuations need waitHealthCheck, which operator 2.3 has (2.2 always waits EMQX's 60 s per node)
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1, "--emqx-replicants", 1, "--operator-version", "2.3.0", *FRESH_STATUS)
    emqx = lab.description["emqx"]
    node = {(n["colour"], n["role"]): n for n in emqx["nodes"]}
    old_core, old_replicant = node[("blue", "core")], node[("blue", "replicant")]
    new_core, new_replicant = node[("green", "core")], node[("green", "replicant")]
    create_ready(lab)

    # clients that once reached the core pod directly (not through the listeners Service) left
    # their sessions there, so the old core node has something to evacuate too
    pinned = LoadGenerator("127.0.0.1", old_core["mqtt_port"], clients=5, rate=5, v5_share=1.0, prefix="pinned").start()
    assert pinned.wait_ready(30), pinned.snapshot()
    pinned_ids = [m.client_id for m in pinned.members]
    pinned.stop()

    gen = LoadGenerator("127.0.0.1", emqx["lb"]["mqtt_port"], clients=20, rate=10).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        rc, rebalanced = scale_out_and_rebalance(lab, new_replicant, via=old_core)
        assert rc == 0, rebalanced
        # The old core node's evacuation moves only the five pinned sessions: at FAST's 30/s it can end
        # between two looks at the operator's status on a loaded machine, and the order is not seen.
        # At 1/s it lasts five seconds; the replicant's clients are connected, so its own pace is unchanged.
        rc, result = run(lab, image=NEW, update_strategy=dict(FAST, sess_evict_rate=1))
    finally:
        users = gen.stop()
    # the core node holds sessions too, yet only the replicants took part (donor and recipient)
    assert rebalanced["rebalance_outcome"] == "balanced", rebalanced
    # a rebalance still running at the operator's first look is Failed there ("not ready": the donor's pod lost its
    # readiness gate), and the module followed EMQX; one over by then is Completed (test_emqx_operator_rebalance_live)
    assert (rebalanced["after"]["phase"] == "Completed" or rebalanced.get("operator_verdict")
            == {"phase": "Failed", "message": "EMQX emqx-ee is not ready"}), rebalanced
    assert sorted(rebalanced["balance"]["connections"]) == [old_replicant["name"], new_replicant["name"]], rebalanced
    assert rebalanced["balance"]["connections"][new_replicant["name"]] > 0, rebalanced["balance"]

    assert rc == 0, result
    assert result["blue_green"] and result["after"]["revisions"]["current"] == result["after"]["revisions"]["update"]
    assert result["evacuated_nodes"] == sorted([old_core["name"], old_replicant["name"]]), result["timeline"]
    first_seen = []
    for sample in result["timeline"]:
        for evacuation in sample["evacuations"]:
            if evacuation["node"] not in first_seen:
                first_seen.append(evacuation["node"])
    assert first_seen == [old_replicant["name"], old_core["name"]], result["timeline"]
    with_replicant = [i for i, s in enumerate(result["timeline"]) if old_replicant["name"] in [e["node"] for e in s["evacuations"]]]
    with_core = [i for i, s in enumerate(result["timeline"]) if old_core["name"] in [e["node"] for e in s["evacuations"]]]
    assert with_replicant[-1] < with_core[0], result["timeline"]  # the replicant was gone before the core was touched

    assert users["sessions_lost"] == 0, users
    # every session went to the new replicant (migrate_to), none to the new core node
    held = sessions_by_node(emqx, via=new_core)
    assert held[new_core["name"]] == 0 and held[new_replicant["name"]] >= 25, held
    assert [cid for cid in pinned_ids if not resumes_session(emqx["lb"]["mqtt_port"], cid)] == []
