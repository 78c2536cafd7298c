"""kilda_zk_signal through a ZooKeeper leader cut off by a network partition in the middle of a flip.

The ensemble is the ZooKeeper lab on a network of its own (``--containers --network``: Debian's
ZooKeeper servers, each in its own container at its own address); the Kilda components are the lab's
simulators, each with its own ZooKeeper session and the whole connect string, as Kilda's are.

What real ZooKeeper and Kilda do, and why the lab is that. A leader cut off from its followers keeps
running but hears no quorum: it stops leading, and its followers, which lost their leader, close their
clients' connections and elect a new one among themselves. Clients of the cut-off server get no reset
(no packet crosses the cut): they notice only when their reads time out, two thirds of their session
timeout later, and reconnect to the majority with their session. Every client is therefore
disconnected for a while, and Kilda drops a ``state`` write that fails on a connection loss
(ZooKeeperBolt.handleInput logs the IllegalStateException of ZkWriter.setData; the simulator does the
same), so a component that finishes draining during the cut keeps a stale ``state`` for good. The
module must not wait for ``wait_timeout``: it completes when every state moved, or names the stale ones
promptly, and a re-run with ``refresh_stale_state`` (what the role does) completes."""
import shutil
import threading
import time

import pytest
from kazoo.exceptions import KazooException

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, signal
from kildatest import values, zk_client
from waiting import wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]

SESSION = 6  # the components' session timeout (Kilda's is 30 s; the module is told the lab's)
PREFIX = "/kilda_partition"
COMPONENTS = ["flowhs", "nbworker", "reroute", "swmanager", "network"]  # hubs drain, network confirms at once


def flip(hosts, value, **kw):
    params = dict(hosts=hosts, prefix=PREFIX, signal=value, build_version=None,
                  targets=[{"component": c, "env": "blue"} for c in COMPONENTS], create_missing=False,
                  wait=True, wait_timeout=120, poll_interval=0.2, connect_timeout=15, session_timeout=10,
                  component_session_timeout=SESSION)
    params.update(kw)
    return connection.with_client(params, lambda client: signal.run(client, params, check_mode=False))


def states(zk):
    """Each component's state, through the test's own client: the cut may have expired its session, and
    kazoo raises that once before it goes on with a new one."""
    def read():
        try:
            return {c: values(zk, PREFIX, c, "blue")["state"] for c in COMPONENTS}
        except KazooException:
            return None

    return wait_for(read, 30, "the test's own ZooKeeper client to read again")


@pytest.mark.slow
@pytest.mark.long  # a minute or more beside the rest of the suite
def test_a_leader_partitioned_mid_flip_ends_settled_or_names_the_stale_states_and_a_refresh_completes(lab_factory):
    ensemble = lab_factory("zookeeper", "--servers", "3", "--containers", "--network")
    hosts = ensemble.description["hosts"]
    # hubs drain for up to 4 s, so confirmations are still arriving when the cut comes
    kilda = lab_factory("kilda", "--zk", hosts, "--prefix", PREFIX, "--env", "blue", "--no-services", "--bootstrap",
                        "--session-timeout", SESSION, "--drain-ms", 4000)
    cut = []

    def partition_the_leader_once_the_flip_began():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if values(zk, PREFIX, "network", "blue")["signal"] == "SHUTDOWN":
                    break
            except Exception:  # pylint: disable=broad-except
                pass
            time.sleep(0.05)
        cut.append(ensemble.fault("partition", "leader")["fault"]["target"])

    zk = zk_client(hosts)
    try:
        cutter = threading.Thread(target=partition_the_leader_once_the_flip_began, daemon=True)
        cutter.start()
        started = time.monotonic()
        try:
            first = flip(hosts, "SHUTDOWN")
        except signal.StaleState as exc:
            first = exc
        took = time.monotonic() - started
        cutter.join(30)
        assert cut, "the leader was never partitioned"
        assert took < 90, "%.0f s: the module waited as if for wait_timeout" % took
        outcome = "named %s stale" % first.details["stale"] if isinstance(first, signal.StaleState) else "settled"
        print("partitioned %s; the first flip took %.1f s and %s" % (cut[0], took, outcome))
        if isinstance(first, signal.StaleState):
            # the components whose last confirmation fell into the cut: named, with the way out
            msg = str(first)
            assert first.details["stale"] and set(first.details["stale"]) <= {"%s/blue" % c for c in COMPONENTS}, first.details
            assert "refresh_stale_state=true" in msg, msg
            lost = {c["path"].split("/", 2)[2]: c["lost_writes"] for m in kilda.status()["members"] for c in m["components"]}
            assert all(lost[name] for name in first.details["stale"]), ("named stale only when a write of it was lost", lost)
            again = flip(hosts, "SHUTDOWN", refresh_stale_state=True)
            assert again["changed"] and [s["state"] for s in again["settled"]] == ["0"] * len(COMPONENTS), again
        else:
            assert [s["state"] for s in first["settled"]] == ["0"] * len(COMPONENTS), first

        # whatever the path, every component is drained and the ensemble still has its majority
        assert states(zk) == {c: "0" for c in COMPONENTS}
        assert all(values(zk, PREFIX, c, "blue")["signal"] == "SHUTDOWN" for c in COMPONENTS)
    finally:
        zk.stop()
        zk.close()
    healed = ensemble.fault("heal", cut[0])
    assert {s["name"]: s["mode"] for s in healed["servers"]}[cut[0]] == "follower", healed["servers"]
