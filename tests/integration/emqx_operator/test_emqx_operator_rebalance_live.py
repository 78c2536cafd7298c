"""A Rebalance through the operator simulator on the EMQX lab: real MQTT clients are evicted from
the old nodes after a scale-out, the module follows the phase and checks the balance with EMQX."""
import json
import shutil
import threading
import time

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("paho.mqtt")
from emqx_lab import haproxy  # noqa: E402  pylint: disable=import-error
from emqx_lab.load import LoadGenerator  # noqa: E402  pylint: disable=import-error
from test_emqx_operator_rebalance_module import run_module  # noqa: E402  pylint: disable=import-error
from kubectl_run import FRESH_STATUS, kubectl, kubectl_result  # noqa: E402  pylint: disable=import-error,wrong-import-position
from waiting import wait_for  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = pytest.mark.timeout(180)

EMQX_CR = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"},
           "spec": {"image": "emqx/emqx-enterprise:5.8.6"}}


class ScaledOut:
    """A k8s lab whose EMQX resource is Ready on two nodes holding MQTT clients, and a third node
    just started with none (a scale-out), listed by the operator. ``report`` is the clients'
    report once the block is left. With ``fresh_status`` the operator passes over the Ready
    resource every second; without, every 30 s as upstream, so the rebalance starts early in the
    30 s during which the resource stays Ready whatever its donors answer."""

    def __init__(self, lab_factory, clients=60, fresh_status=True):
        self.lab = lab_factory("k8s", "--emqx-blue", 2, "--emqx-green", 1, *(FRESH_STATUS if fresh_status else ()))
        self.listing_wait = 10 if fresh_status else 40
        self.emqx = self.lab.description["emqx"]
        self.green = next(n for n in self.emqx["nodes"] if n["colour"] == "green")
        self.clients = clients
        self.gen = self.report = None

    def __enter__(self):
        kubectl(self.lab, "apply", "--validate=false", "-f", "-", stdin=json.dumps(EMQX_CR))
        wait_for(lambda: "Ready" in kubectl(self.lab, "get", "emqx", "emqx-ee"), 10, "the operator to report the EMQX Ready")
        self.gen = LoadGenerator("127.0.0.1", self.emqx["lb"]["mqtt_port"], clients=self.clients, rate=20).start()
        try:
            assert self.gen.wait_ready(30), self.gen.snapshot()
            self.lab.fault("start", self.green["name"])
            wait_for(lambda: haproxy.server_states(self.emqx["lb"]["runtime_socket"]).get(self.green["member"], "").startswith("UP"),
                     15, "the new node UP in the load balancer")
            wait_for(lambda: "emqx-green" in kubectl(self.lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.status.coreNodes[*].node}"),
                     self.listing_wait, "the operator to list the new node")
        except BaseException:
            self.gen.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.report = self.gen.stop()
        return False

    def module_args(self, name, **extra):
        """emqx_operator_rebalance options that move a few clients onto the new node, reading EMQX too."""
        creds = self.emqx["credentials"]
        return dict({"kubeconfig": self.lab.description["kubeconfig"], "name": name, "instance_name": "emqx-ee",
                     "conn_evict_rate": 10, "sess_evict_rate": 10, "wait_takeover": 1, "wait_health_check": 6,
                     "abs_conn_threshold": 5, "abs_sess_threshold": 5, "rel_conn_threshold": "1.1", "rel_sess_threshold": "1.1",
                     "emqx_api_url": self.emqx["nodes"][0]["api_url"], "emqx_api_key": creds["api_key"],
                     "emqx_api_secret": creds["api_secret"], "emqx_validate_certs": False, "wait_timeout": 90, "poll_interval": 0.5},
                    **extra)


def live_by_node(emqx):
    node = emqx["nodes"][0]
    import httpx

    reply = httpx.get(node["api_url"] + "/api/v5/nodes", auth=(emqx["credentials"]["api_key"], emqx["credentials"]["api_secret"]))
    return {n["node"]: n.get("live_connections", 0) for n in reply.json() if n.get("node_status") == "running"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_a_rebalance_whose_donors_take_ready_away_is_failed_by_the_operator_and_followed_to_balance(lab_factory):
    """Operator 2.2 on a rebalance that outlasts the EMQX resource's next reconcile: the donors answer
    503 to availability_check, their pods' on-serving readiness gate turns False
    (update_pod_conditions.go), the resource loses Ready (status_machine.go), and the Rebalance
    controller, which checks Ready before the phase (rebalance_controller.go), sets Failed "EMQX
    emqx-ee is not ready" at its first look while EMQX goes on rebalancing. The module follows
    EMQX's own rebalance to a balanced end and reports both verdicts side by side."""
    with ScaledOut(lab_factory) as cluster:
        lab, emqx, green = cluster.lab, cluster.emqx, cluster.green
        before = live_by_node(emqx)
        assert before.get(green["name"], 0) == 0, before
        seen_ready = []

        def watch_ready():
            for dummy in range(40):  # 10 s: the rebalance's start and the operator's first look
                seen_ready.append("Ready" in kubectl(lab, "get", "emqx", "emqx-ee"))
                time.sleep(0.25)

        watcher = threading.Thread(target=watch_ready, daemon=True)
        watcher.start()
        rc, result = run_module(cluster.module_args("rebalance-sample"))
        watcher.join(30)
        assert rc == 0, result
        assert result["rebalance_outcome"] == "balanced" and result["followed"] == "emqx", result
        assert result["after"]["phase"] == "Failed"
        assert result["operator_verdict"] == {"phase": "Failed", "message": "EMQX emqx-ee is not ready"}, result
        warnings = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]
        assert any("lost Ready while the rebalance ran" in w for w in warnings), warnings
        # the resource was Ready before and lost it while the donors gave clients away
        assert True in seen_ready and False in seen_ready, seen_ready
        # EMQX was still rebalancing when the operator gave up; the module saw it through
        assert any(s.get("emqx_state") not in (None, "ended") for s in result["timeline"]), result["timeline"]
        assert result["balance"]["connections"][green["name"]] > 0
        after = live_by_node(emqx)
        assert after[green["name"]] >= 10, after

        listing = kubectl(lab, "get", "rebalances")
        assert listing.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
        assert listing.split("\n")[1].split()[:2] == ["rebalance-sample", "Failed"]
        wait_for(lambda: "Ready" in kubectl(lab, "get", "emqx", "emqx-ee"), 10, "Ready again once the donors serve")
    assert cluster.report["sessions_lost"] == 0, cluster.report


@pytest.mark.slow
def test_rebalance_of_a_balanced_cluster_fails_with_the_operators_reason(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 2, *FRESH_STATUS)
    from kubernetes import config, dynamic

    api = dynamic.DynamicClient(config.new_client_from_config(lab.description["kubeconfig"]))
    api.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX").create(namespace="default", body=EMQX_CR)
    rc, result = run_module({"kubeconfig": lab.description["kubeconfig"], "name": "rb", "instance_name": "emqx-ee",
                             "conn_evict_rate": 10, "wait_timeout": 30, "poll_interval": 0.3})
    assert rc != 0
    # EMQX answers nothing_to_balance with 400; the operator only keeps the status line
    assert "Failed to start rebalance: request api failed: 400 Bad Request" in result["msg"]

    rc, result = run_module({"kubeconfig": lab.description["kubeconfig"], "name": "rb2", "instance_name": "missing",
                             "conn_evict_rate": 10, "wait_timeout": 30, "poll_interval": 0.3})
    assert rc != 0 and "EMQX missing is not found" in result["msg"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_an_operator_that_loses_track_of_a_rebalance_is_replaced_by_following_emqx(lab_factory):
    """One failed read of EMQX's rebalance status while Processing makes the operator mark the CR
    Failed for good (rebalanceStatusHandler in rebalance_controller.go), while EMQX goes on
    rebalancing. The oldest node's API answers 503 across the operator's next look: the module,
    reading EMQX through another node, follows EMQX's own rebalance to a balanced end and reports
    the operator's verdict beside it."""
    outcome = {}
    with ScaledOut(lab_factory, fresh_status=False) as cluster:
        lab, emqx, green = cluster.lab, cluster.emqx, cluster.green
        oldest, other = emqx["nodes"][0], emqx["nodes"][1]
        args = cluster.module_args("rebalance-lost", wait_health_check=8, emqx_api_url=other["api_url"])
        worker = threading.Thread(target=lambda: outcome.update(zip(("rc", "result"), run_module(args))), daemon=True)
        worker.start()
        wait_for(lambda: kubectl_result(lab, "get", "rebalance", "rebalance-lost", "-o", "jsonpath={.status.phase}")[1] == "Processing",
                 20, "the Rebalance to be Processing")
        lab.fault("api-error", oldest["name"], "--seconds", 7)  # outlasts the operator's next look, 5 s after the last
        worker.join(120)
        assert not worker.is_alive()
    report = cluster.report
    rc, result = outcome["rc"], outcome["result"]
    assert rc == 0, result
    assert result["followed"] == "emqx" and result["rebalance_outcome"] == "balanced", result
    assert result["after"]["phase"] == "Failed"
    assert result["operator_verdict"]["message"] == "Failed to get rebalance status: request api failed: 503 Service Unavailable"
    # a module run as a target runs it reports warnings as strings (ansible-core 2.18) or as WarningSummary objects (2.19)
    warnings = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]
    assert any("lost track" in w for w in warnings), result
    # EMQX was still rebalancing when the operator gave up; the module saw it through
    assert any(s.get("emqx_state") not in (None, "ended") for s in result["timeline"]), result["timeline"]
    assert result["balance"]["connections"][green["name"]] > 0
    assert report["sessions_lost"] == 0, report


def operator_alive(lab):
    return next(m["alive"] for m in lab.status()["members"] if m["name"] == "operator")


def emqx_rebalances(emqx):
    import httpx

    creds = emqx["credentials"]
    reply = httpx.get(emqx["nodes"][1]["api_url"] + "/api/v5/load_rebalance/global_status", auth=(creds["api_key"], creds["api_secret"]))
    return reply.json().get("rebalances") or []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_a_rebalance_deleted_before_the_operators_first_look_would_crash_it_so_the_module_waits(lab_factory):
    """On deletion a 2.2 operator stops a Processing rebalance at rebalanceStates[0].coordinator_node,
    which its first look fills about 5 s after the start; before that the index is out of range and,
    without panic recovery (controller-runtime 0.17), the operator process dies. state=absent right
    after the start waits for that look, then deletes: the operator lives and EMQX's rebalance is
    stopped. The same deletion done directly kills the lab's operator, as it would the real one."""
    with ScaledOut(lab_factory, fresh_status=False) as cluster:
        lab, emqx = cluster.lab, cluster.emqx
        base = cluster.module_args("rb-safe", conn_evict_rate=5, sess_evict_rate=5, wait_health_check=20, wait_timeout=30,
                                   poll_interval=0.3)
        from kubernetes import config, dynamic

        client = dynamic.DynamicClient(config.new_client_from_config(lab.description["kubeconfig"]))
        rebalances = client.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
        rc, started = run_module(dict(base, wait=False))
        assert rc == 0, started
        # The operator takes the Rebalance up (Processing) within its 0.5 s cadence and names its
        # coordinator 5 s later: ask for the deletion in between. (Asked before the operator has seen
        # the Rebalance at all, the module deletes it at once, which is safe: no finalizer holds it.)
        wait_for(lambda: (rebalances.get(name="rb-safe", namespace="default").to_dict().get("status") or {}).get("phase") == "Processing",
                 10, "rb-safe to be Processing")
        rc, removed = run_module(dict(base, state="absent"))
        assert rc == 0, removed
        assert removed["changed"] and removed["after"] is None
        # asked before the operator's first look, it waited for that look before deleting: the operator lives
        assert removed["before"]["phase"] == "Processing" and not removed["before"]["rebalance_states"]
        assert operator_alive(lab)
        wait_for(lambda: not emqx_rebalances(emqx), 10, "EMQX's rebalance to be stopped by the operator")

        # Straight through the API, as kubectl would, but quick enough to land inside the 5 s window on a busy machine.
        rebalances.create(namespace="default", body={
            "apiVersion": "apps.emqx.io/v2beta1", "kind": "Rebalance", "metadata": {"name": "rb-raw"},
            "spec": {"instanceName": "emqx-ee", "rebalanceStrategy": {"connEvictRate": 5, "waitHealthCheck": 20,
                                                                      "absConnThreshold": 5, "relConnThreshold": "1.1"}}})
        wait_for(lambda: (rebalances.get(name="rb-raw", namespace="default").to_dict().get("status") or {}).get("phase") == "Processing",
                 10, "rb-raw to be Processing")
        rebalances.delete(name="rb-raw", namespace="default")
        wait_for(lambda: not operator_alive(lab), 10, "the operator to die on the premature deletion")
    assert cluster.report["sessions_lost"] == 0, cluster.report
