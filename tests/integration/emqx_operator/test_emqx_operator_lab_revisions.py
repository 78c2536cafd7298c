"""The operator simulator with replicants and several revisions on one lab, under MQTT load:
core first, then replicants, old replicants drained first; a second update starts the other
colour with empty data directories; a rollback to the previous template after that update
finished does not bring back the old set with its data: the operator's create of that set fails
with AlreadyExists, it counts a collision and starts the template under a new hash with empty
data directories (controllers/apps/v2beta1/add_emqx_core.go, add_emqx_repl.go), so the node
evacuated by the first update does not come back evacuating."""
import json
import os
import shutil

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("paho.mqtt")
httpx = pytest.importorskip("httpx")
from emqx_lab.load import LoadGenerator  # noqa: E402  pylint: disable=import-error,wrong-import-position
from kubectl_run import follow_status, kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position
from waiting import wait_for  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

FIRST, SECOND, THIRD = "emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.10.4", "emqx/emqx-enterprise:5.10.5"


def ready(status):
    revisions = status.get("coreNodesStatus") or {}
    return ((status.get("conditions") or [{}])[0].get("type") == "Ready"
            and revisions.get("currentRevision") == revisions.get("updateRevision"))


def follow(lab, done, timeout, what):
    """Poll the resource; return the last status and each distinct (front condition, evacuated nodes) seen."""
    return follow_status(lab, done, timeout, what, lambda status: (
        (status.get("conditions") or [{}])[0].get("type"),
        tuple(e["node"].split("@")[0] for e in status.get("nodeEvacuationsStatus") or [])))


def update(lab, image, timeout=90):
    kubectl(lab, "patch", "emqx", "emqx-ee", "--type", "merge", "-p", json.dumps({"spec": {"image": image}}))
    _status, started = follow(lab, lambda s: not ready(s), 10, "the update to start")
    done, seen = follow(lab, ready, timeout, "Ready on %s" % image)
    return done, started[1:] + seen


def rest(lab, method, path):
    emqx = lab.description["emqx"]
    creds = emqx["credentials"]
    running = [n for n in lab.status()["emqx"]["nodes"] if n["status"] == "running"]
    reply = httpx.request(method, running[0]["api_url"] + "/api/v5" + path, auth=(creds["api_key"], creds["api_secret"]),
                          timeout=10)
    return reply.status_code, reply.json() if reply.content else None


@pytest.mark.slow
def test_replicants_second_update_and_a_rollback_that_gets_a_new_set_not_the_old_data(lab_factory):
    # fast evacuations need waitHealthCheck, which operator 2.3 has (2.2's CRD refuses it under kubectl apply)
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1, "--emqx-replicants", 1, "--operator-version", "2.3.0")
    nodes = {n["member"]: n for n in lab.description["emqx"]["nodes"]}
    assert {m: n["role"] for m, n in nodes.items()} == {"emqx-blue-1": "core", "emqx-blue-r1": "replicant",
                                                        "emqx-green-1": "core", "emqx-green-r1": "replicant"}
    # the MQTT front end reaches replicants only, as the listeners Service does
    assert sorted(lab.description["emqx"]["lb"]["servers"]) == ["emqx-blue-r1", "emqx-green-r1"]
    cr = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"},
          "spec": {"image": FIRST, "updateStrategy": {"type": "Recreate", "initialDelaySeconds": 1, "evacuationStrategy": {
              "connEvictRate": 30, "sessEvictRate": 30, "waitTakeover": 1, "waitHealthCheck": 1}}}}
    kubectl(lab, "apply", "-f", "-", stdin=json.dumps(cr))
    follow(lab, ready, 20, "the first Ready")
    code, listed = rest(lab, "GET", "/nodes")
    roles = {n["node"].split("@")[0]: n["role"] for n in listed}
    assert code == 200 and roles == {"emqx-blue-1": "core", "emqx-blue-r1": "replicant"}

    gen = LoadGenerator("127.0.0.1", lab.description["emqx"]["lb"]["mqtt_port"], clients=20, rate=5).start()
    try:
        assert gen.wait_ready(30), gen.snapshot()
        # 20 clients and the load's publisher, all on the replicant (asked of EMQX: the resource's status is
        # refreshed only every 30 s while it is Ready, as the operator does)
        wait_for(lambda: [n.get("connections", 0) >= 20 for n in rest(lab, "GET", "/nodes")[1] if n["role"] == "replicant"] == [True],
                 10, "the sessions on the blue replicant")

        # 1. blue -> green: new core, then new replicants, then the old replicant is drained first
        done, seen = update(lab, SECOND)
        order = ["CoreNodesProgressing", "ReplicantNodesProgressing", "Available", "Ready"]
        fronts = [order.index(front) for front, _evacuated in seen if front in order]
        assert fronts == sorted(fronts) and fronts[-1] == 3, seen  # polling may miss a short phase, never reorder
        assert [c["type"] for c in done["conditions"][:4]] == ["Ready", "Available", "ReplicantNodesReady", "CoreNodesReady"]
        evacuated = [nodes for _front, nodes in seen if nodes]
        assert evacuated and evacuated[0] == ("emqx-blue-r1",), seen
        assert [n["node"].split("@")[0] for n in done["replicantNodes"]] == ["emqx-green-r1"]
        assert done["replicantNodesStatus"]["currentRevision"] == done["replicantNodesStatus"]["updateRevision"]
        second_revision = done["coreNodesStatus"]["currentRevision"]
        assert os.path.exists(os.path.join(nodes["emqx-blue-r1"]["data_dir"], ".evacuation"))

        # 2. green -> blue with a new image: a new StatefulSet, so no evacuation comes back
        done, seen = update(lab, THIRD)
        assert not any("emqx-blue-r1" in nodes for _front, nodes in seen), seen
        assert [n["node"].split("@")[0] for n in done["replicantNodes"]] == ["emqx-blue-r1"]
        assert not os.path.exists(os.path.join(nodes["emqx-blue-r1"]["data_dir"], ".evacuation"))

        # 3. rollback to the previous template: green's old set still exists (revisionHistoryLimit), so a collision
        done, seen = update(lab, SECOND)
        assert not any(nodes for _front, nodes in seen if "emqx-green-r1" in nodes), seen
        assert [n["node"].split("@")[0] for n in done["replicantNodes"]] == ["emqx-green-r1"]
        assert not os.path.exists(os.path.join(nodes["emqx-green-r1"]["data_dir"], ".evacuation"))
        for key in ("coreNodesStatus", "replicantNodesStatus"):
            assert done[key]["collisionCount"] == 1, done[key]
        assert done["coreNodesStatus"]["currentRevision"] != second_revision
        code, body = rest(lab, "GET", "/load_rebalance/global_status")
        assert code == 200 and body["evacuations"] == [], body  # the running (new) nodes carry none
    finally:
        report = gen.stop()
    assert report["sessions_lost"] == 0, report
