"""The EMQX blue-green upgrade when a node is cut off the network while it keeps running
(``--containers --network``: every node and mosquitto in a container of its own at its own
address, HAProxy on the host reaching them there, ``labctl fault partition`` taking one off the
lab's network), under real MQTT load through HAProxy.

What real EMQX does, and why the lab is that (the lab README gives the upstream files):
- its peers stop hearing the node and, after the Erlang net tick, see it down: ``/nodes`` lists a
  down core node as ``stopped`` and the evacuations of the others no longer list it. The lab's
  nodes ping each other over the network and apply the same rule with a shorter tick;
- HAProxy's health checks time out and take it out of the pool, while the clients connected
  through it hear nothing until their keep alive runs out; they then reconnect to another node;
- a session held by the node that was cut off cannot be handed over: before the node is seen
  down, the takeover call times out and the connecting client gets no CONNACK; after, its
  registrations are cleaned up and the client starts a new session. Its queued messages are lost
  with it, in EMQX as in the lab;
- when the network mends, Mria's autoheal restarts the applications of the smaller side (the node
  that was alone): its clients are dropped, and a node evacuation in progress resumes from the file
  it keeps.

So a partition costs the sessions held by the node that was cut off, and the tool cannot prevent
that. What it must do is stop promptly and say what happened, leave nothing that a re-run cannot
finish, and not leave a node behind that takes clients when it comes back."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from emqxtest import LABS, cluster, emqx_bluegreen, mqtt_load, node_names, run_module  # pylint: disable=import-error

pytestmark = [pytest.mark.timeout(420), pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]

FAST = {"emqx_blue_green_wait_health_check": 2, "emqx_blue_green_wait_takeover": 2, "emqx_blue_green_soak_seconds": 4,
        "emqx_blue_green_probe_interval": 2, "emqx_blue_green_poll_interval": 1, "emqx_blue_green_reconnect_budget": 100,
        "emqx_blue_green_session_budget": 100}
# Clients notice a silent connection after one and a half keep alives.
KEEPALIVE = 4


def inputs(lab, report_dir, **overrides):
    return emqx_bluegreen.write_inputs(lab.description, lab.workdir, report_dir, **dict(FAST, **overrides))


def start_playbook(inventory, evars):
    return subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import emqx_bluegreen as b; "
         "sys.exit(b.playbook('emqx_blue_green.yml', %r, %r, capture=False).returncode)" % (LABS, inventory, evars)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def sessions_of(description, name):
    return next(n["sessions"] for n in cluster(description)["nodes"] if n["name"] == name)


def probe_ok(description):
    return run_module("mqtt_probe", {"host": description["lb"]["mqtt_host"], "port": description["lb"]["mqtt_port"]})[1]


@pytest.mark.slow
def test_a_blue_node_cut_off_mid_drain_stops_the_run_promptly_and_once_healed_a_rerun_completes(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 2, "--green", 2, "--containers", "--network")
    blue1 = node_names(lab.description, "blue")[0]
    assert "@10." in blue1 and "127.0.0.1" not in lab.description["nodes"][0]["api_url"], lab.description["nodes"][0]
    # a slow drain, so that the cut comes while blue still holds most of its clients
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_reconnect_budget=20, emqx_blue_green_session_budget=40)
    with mqtt_load(lab.description, clients=120, rate=30, keepalive=KEEPALIVE) as users:
        proc = start_playbook(inventory, evars)
        output, cut_at, held = [], None, None
        for line in proc.stdout:
            output.append(line)
            if cut_at is None and "% drained at" in line:
                held = sessions_of(lab.description, blue1)
                lab.fault("partition", blue1)
                cut_at = time.monotonic()
        assert proc.wait(timeout=120) != 0
        stopped_in = time.monotonic() - cut_at
        text = "".join(output)
        assert "%s left the cluster while being drained (stopped, or cut off from the other nodes)" % blue1 in text, text[-3000:]
        assert "mend the network" in text
        # the net tick (2.5 s in the lab), the next observation, and the end of the play
        assert stopped_in < 30, stopped_in
        with open(os.path.join(report_dir, "journal.json")) as handle:
            assert json.load(handle)["phase"] == "draining blue"
        # while it is cut off, the service goes on through HAProxy
        assert probe_ok(lab.description)["ok"]

        lab.fault("heal", blue1)
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
        assert run.returncode == 0, run.stdout[-4000:]
    # asked through green: a stopped node on a network does not refuse a connection, it is silent
    info = cluster(dict(lab.description, nodes=[n for n in lab.description["nodes"] if n["colour"] == "green"]))
    assert sorted(info["running_nodes"]) == sorted(node_names(lab.description, "green"))
    assert info["evacuations"] == []
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["outcome"] == "upgraded" and report["sessions_left_on_blue"] == 0, report
    # Every client is back. What the partition cost is the sessions the node held when it was cut
    # off, no more: the other blue node's drain lost nothing.
    assert users["connected"] == users["clients"] == 120, users
    assert 0 < users["sessions_lost"] <= held, (users["sessions_lost"], held)


@pytest.mark.slow
def test_a_green_node_cut_off_during_the_soak_fails_the_gate_and_the_rollback_restores_service(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 2, "--green", 2, "--containers", "--network")
    green1 = node_names(lab.description, "green")[0]
    # the soak outlasts what the cut takes to be seen: the net tick (2.5 s) and a probe or two
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_soak_seconds=10, emqx_blue_green_probe_interval=2)
    with mqtt_load(lab.description, clients=100, rate=30, keepalive=KEEPALIVE) as users:
        proc = start_playbook(inventory, evars)
        output, held = [], None
        for line in proc.stdout:
            output.append(line)
            if held is None and "Record phase soaking" in line:
                held = sessions_of(lab.description, green1)
                lab.fault("partition", green1)
        assert proc.wait(timeout=300) != 0
        text = "".join(output)
        assert "green nodes not running (stopped, or cut off from the cluster): %s" % green1 in text, text[-3000:]
        assert "the move was rolled back to blue" in text
        assert probe_ok(lab.description)["ok"], "service restored through the load balancer"
        # The lab's removal hook got every green node, the one cut off too: it cannot come back and
        # take clients when the network mends.
        status = lab.status()
        assert [n["status"] for n in status["nodes"] if n["name"] == green1] == ["stopped"], status["nodes"]
        assert status["partitioned"] == [], "the hook stopped the node that was cut off"
    info = cluster(lab.description)
    assert sorted(info["running_nodes"]) == sorted(node_names(lab.description, "blue"))
    assert info["evacuations"] == []
    with open(os.path.join(report_dir, "report.json")) as handle:
        assert json.load(handle)["outcome"] == "rolled back"
    # everyone is back on blue; only sessions that sat on the node cut off could be lost
    assert users["connected"] == users["clients"] == 100, users
    assert 0 < users["sessions_lost"] <= held, (users["sessions_lost"], held)
