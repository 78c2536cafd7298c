"""The ZooKeeper lab on a network of its own (``--containers --network``): every server in its own
container at its own address, and ``labctl fault partition`` cutting one off while it keeps
running.

What real ZooKeeper does, and why the lab is that: these are Debian's ZooKeeper servers and the
cut is real (the container leaves the lab's bridge network). A leader cut off from its followers
keeps its process but no longer hears a quorum: after syncLimit ticks it stops leading and stops
serving, while the majority elects a new leader and goes on taking writes. Unlike a killed server,
a partitioned one sends its clients no reset: they learn of the loss only when their reads time
out (two thirds of their session timeout), then reconnect to the majority with their session.
Healed, the old leader rejoins as a follower and catches up on what it missed."""
import shutil

import pytest
from kazoo.client import KazooClient

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]


def modes(lab):
    return {s["name"]: s["mode"] for s in lab.status()["servers"]}


@pytest.mark.slow
def test_a_partitioned_leader_stops_serving_the_majority_goes_on_and_it_rejoins_as_a_follower(lab_factory):
    lab = lab_factory("zookeeper", "--servers", "3", "--containers", "--network")
    servers = lab.description["servers"]
    addresses = [s["host"] for s in servers]
    assert len(set(addresses)) == 3 and not any(a.startswith("127.") for a in addresses), addresses
    assert all(s["port"] == 2181 for s in servers), "each server on ZooKeeper's own port, at its own address"

    cut = lab.fault("partition", "leader")
    old = cut["fault"]["target"]
    others = ",".join("%s:2181" % s["host"] for s in servers if s["name"] != old)
    majority = KazooClient(hosts=others, timeout=10.0)
    majority.start(timeout=30)  # retries until the majority has elected its new leader
    try:
        majority.ensure_path("/partition")
        for n in range(20):
            majority.create("/partition/w", str(n).encode(), sequence=True)
        now = lab.status()
        states = {s["name"]: s for s in now["servers"]}
        assert states[old]["alive"] and states[old]["partitioned"], "a partitioned server keeps running, cut off"
        assert states[old]["mode"] is None, "a leader without its quorum stops serving (and cannot be reached)"
        assert now["leader"] not in (None, old), now["servers"]
        assert sorted(m for n, m in modes(lab).items() if n != old) == ["follower", "leader"]

        healed = lab.fault("heal", old)
        assert {s["name"]: s["mode"] for s in healed["servers"]}[old] == "follower", healed["servers"]
        rejoined = KazooClient(hosts="%s:2181" % states[old]["host"], timeout=10.0)
        rejoined.start(timeout=30)
        try:
            rejoined.sync("/partition")
            assert len(rejoined.get_children("/partition")) == 20, "the healed server has every write the majority took"
        finally:
            rejoined.stop()
            rejoined.close()
    finally:
        majority.stop()
        majority.close()


def test_partition_needs_a_lab_network(lab_factory):
    lab = lab_factory("zookeeper", "--servers", "1")
    with pytest.raises(RuntimeError) as refused:
        lab.fault("partition", "zk1")
    assert "partitions need a lab started with --containers --network" in str(refused.value)
