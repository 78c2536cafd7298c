"""Link faults of a lab network (``--containers --network``): a member cut off from some peers only
(``labctl fault partition NAME --from PEER``) and a slow link (``labctl fault delay NAME MS``),
shown on the EMQX lab, whose nodes decide who is running from what reaches them over the network.

A partial partition is what the Erlang distribution lives through when one link fails: each node
sees down exactly the peers it cannot reach, and the views of the cluster differ from node to node
(the lab README says where EMQX's own code decides this)."""
import os
import shutil
import statistics
import time

import httpx
import pytest
from labcommon import state  # pylint: disable=import-error

# two holds of the 250 ms delay
SLOW = 0.5

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]


def short(name):
    return name.split("@", 1)[0]


def view(node):
    """Whom ``node`` sees running (the lab's own view, asked over the network from the host)."""
    answer = httpx.post(node["api_url"] + "/_lab/rpc/view", json={}, timeout=5).json()["result"]
    return sorted(short(name) for name in answer["running"])


def round_trip(node, count=5):
    """Median seconds of a request to the node on a new connection (handshake and answer)."""
    times = []
    for unused in range(count):
        start = time.monotonic()
        httpx.post(node["api_url"] + "/_lab/rpc/ping", json={}, timeout=10).raise_for_status()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def views_become(nodes, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    seen = {}
    while time.monotonic() < deadline:
        seen = {short(n["name"]): view(n) for n in nodes}
        if seen == expected:
            return
        time.sleep(0.2)
    raise AssertionError("views %s, expected %s" % (seen, expected))


@pytest.mark.slow
def test_a_member_cut_off_from_one_peer_and_a_slow_link_then_healed(lab_factory):
    lab = lab_factory("emqx", "--blue", 3, "--green", 0, "--containers", "--network")
    nodes = lab.description["nodes"]
    one, two, three = (short(n["name"]) for n in nodes)
    everyone = sorted([one, two, three])
    views_become(nodes, {one: everyone, two: everyone, three: everyone})

    # a slow link: only the delayed member's answers come late. The handshake's answer and the
    # reply are both held, so a request on a new connection takes at least SLOW; any other takes
    # less (tens of milliseconds, a few hundred at most on a loaded machine).
    before = [round_trip(n) for n in nodes[:2]]
    assert max(before) < SLOW, before
    lab.fault("delay", one, "250")
    slowed = [round_trip(n) for n in nodes[:2]]
    assert slowed[0] >= SLOW > slowed[1], "only the delayed member's links are slow: %s" % slowed
    # a delay below the lab's ping timeout: everyone still sees everyone
    views_become(nodes, {one: everyone, two: everyone, three: everyone})
    lab.fault("delay", one, "0")
    assert round_trip(nodes[0]) < SLOW

    # cut off from one peer only: those two see each other down, the third sees everyone, and the
    # host (the tests, HAProxy) still reaches the member
    status = lab.fault("partition", one, "--from", two)
    assert status["partitioned"] == [one], status["partitioned"]
    views_become(nodes, {one: sorted([one, three]), two: sorted([two, three]), three: everyone})
    assert round_trip(nodes[0]) < SLOW

    # heal undoes every link fault at once, a delay with it
    lab.fault("delay", one, "250")
    status = lab.fault("heal", one)
    assert status["partitioned"] == []
    views_become(nodes, {one: everyone, two: everyone, three: everyone})
    assert round_trip(nodes[0]) < SLOW

    # a delay process lives in the member's network namespace: a restart (a new namespace) stops it
    lab.fault("delay", one, "100")
    holder = next(h for h in state.load(lab.workdir)["members"].values() if h.get("name") == one)["delay_pid"]
    assert os.path.exists("/proc/%d" % holder)
    lab.fault("restart", one)
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % holder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists("/proc/%d" % holder)
    assert round_trip(lab.status()["nodes"][0]) < SLOW
