"""How Kilda confirms signals, where upstream is harsher than a tidy model (tests/labs/kilda_lab/README.md):
every signal reaches every task at once and is counted by event id, so signals are not serialised per
component. The modules are driven directly (no Ansible process) to keep these tests cheap."""
import os
import threading
import time

import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import TerminalFailure
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, signal
from kildatest import values

pytestmark = pytest.mark.timeout(120)
# the components' ZooKeeper session timeout in these labs, which the module is told: a stale state is
# named after two thirds of it (Kilda's own 30 s would make each such test 16 s longer)
COMPONENT_SESSIONS = 6


def flip(ensemble, prefix, components, value, first=None, **kw):
    """kilda_zk_signal's run; ``first``: the server ("host:port") its connection is made to."""
    params = dict(hosts=ensemble.description["hosts"], prefix=prefix, signal=value, build_version=None,
                  targets=[{"component": c, "env": "blue"} for c in components], create_missing=False,
                  wait=True, wait_timeout=20, poll_interval=0.2, connect_timeout=10, session_timeout=10,
                  component_session_timeout=COMPONENT_SESSIONS)
    params.update(kw)
    if first is None:
        return connection.with_client(params, lambda client: signal.run(client, params, check_mode=False))
    client = connection._client(params, False, first)  # pylint: disable=protected-access
    client.start(timeout=10)
    try:
        return signal.run(client, params, check_mode=False)
    finally:
        connection.close(client)


def wait_for_state(zk, prefix, component, want, timeout=30.0):
    deadline = time.monotonic() + timeout
    while values(zk, prefix, component, "blue")["state"] != want:
        assert time.monotonic() < deadline, values(zk, prefix, component, "blue")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def shorter_graces(monkeypatch):
    """The lab has none of the races the graces cover (a confirmation already on its way, a slow
    hub): shorter ones keep these tests cheap without making them depend on timing."""
    monkeypatch.setattr(signal, "OVERCOUNT_GRACE", 1.0)
    monkeypatch.setattr(signal, "STALE_GRACE", 2.0)


@pytest.fixture
def topologies(kilda_labs, prefix):
    """Blue's 15 topologies alone, STARTed."""
    return kilda_labs(prefix, "--env", "blue", "--no-services", "--bootstrap", "--session-timeout", COMPONENT_SESSIONS)


@pytest.mark.slow
def test_start_while_a_hub_drains_over_counts_and_fails_promptly_naming_it(ensemble, topologies, prefix, zk):
    hang = os.path.join(topologies.description["hang_dir"], "flowhs")
    with open(hang, "w") as handle:
        handle.write("drain")  # flowhs' last hub keeps its in-flight operation
    try:
        flip(ensemble, prefix, ["flowhs"], "SHUTDOWN", wait=False)
        wait_for_state(zk, prefix, "flowhs", "1")  # the other 11 tasks confirmed; the hub still drains
        started = time.monotonic()
        with pytest.raises(TerminalFailure) as failure:
            flip(ensemble, prefix, ["flowhs"], "START", wait_timeout=20)
        took = time.monotonic() - started
    finally:
        os.unlink(hang)
    msg = str(failure.value)
    # The 12 START confirmations came on top of the hub that never confirmed its SHUTDOWN.
    assert "flowhs/blue: state=13 is 1 above expected_state=12, all 12 tasks confirmed START" in msg, msg
    assert "restart the process" in msg and "wait until a SHUTDOWN has settled" in msg, msg
    assert failure.value.details["overcounted"] == ["flowhs/blue"]
    assert took < 15, took  # not a wait until wait_timeout
    # Its drain ends now, but a reactivated hub never confirms that SHUTDOWN: the over-count stays.
    time.sleep(1.0)
    assert values(zk, prefix, "flowhs", "blue")["state"] == "13"


@pytest.mark.slow
def test_shutdown_after_a_start_that_never_confirmed_drains_at_once(ensemble, topologies, prefix, zk):
    flip(ensemble, prefix, ["stats"], "SHUTDOWN")
    hang = os.path.join(topologies.description["hang_dir"], "stats")
    with open(hang, "w") as handle:
        handle.write("start")  # the last task's cache load fails: active, START never confirmed
    try:
        flip(ensemble, prefix, ["stats"], "START", wait=False)
        wait_for_state(zk, prefix, "stats", "3")
        result = flip(ensemble, prefix, ["stats"], "SHUTDOWN", wait_timeout=20)
    finally:
        os.unlink(hang)
    assert result["changed"] and [s["state"] for s in result["settled"]] == ["0"]
    assert result["elapsed"] < 10, result["elapsed"]


def state_when_reachable(zk, prefix, component):
    try:
        return values(zk, prefix, component, "blue")["state"]
    except Exception:  # the test's own client rides the same leader election
        return None


def kill_while_network_confirms(ensemble, zk, prefix, server):
    """Kills ZooKeeper ``server`` ("leader" or a name) once network/blue's state is 1, from a thread of
    its own: the last SHUTDOWN confirmation (fault lose-write) is then waiting for the drop. Returns the
    thread and the list that gets the name of the server killed."""
    killed = []

    def kill():
        deadline = time.monotonic() + 60
        while state_when_reachable(zk, prefix, "network") != "1" and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.append(ensemble.fault("kill", server)["fault"]["target"])

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    return killer, killed


@pytest.mark.slow
def test_a_state_write_lost_with_the_connection_is_named_stale_and_a_refresh_completes(healthy, topologies, prefix, zk):
    """network/blue's last SHUTDOWN confirmation is written while ZooKeeper elects a new leader: Kilda
    loses that write, and nothing writes state again. The wait says so promptly; a re-run with
    refresh_stale_state (as the role runs it) completes."""
    with open(os.path.join(topologies.description["hang_dir"], "network"), "w") as handle:
        handle.write("lose-write")
    killer, killed = kill_while_network_confirms(healthy, zk, prefix, "leader")
    started = time.monotonic()
    with pytest.raises(signal.StaleState) as failure:
        flip(healthy, prefix, ["network"], "SHUTDOWN", wait_timeout=90)
    took = time.monotonic() - started
    killer.join(10)
    assert killed
    msg = str(failure.value)
    assert "network/blue (signal=SHUTDOWN state=1" in msg and "probably stale" in msg and "refresh_stale_state=true" in msg, msg
    assert failure.value.details["stale"] == ["network/blue"]
    assert took < 45, took  # long before wait_timeout
    network = [c for m in topologies.status()["members"] for c in m["components"] if c["path"].endswith("/network/blue")]
    assert network[0]["lost_writes"] == 1 and network[0]["active"] == 0, network

    again = flip(healthy, prefix, ["network"], "SHUTDOWN", refresh_stale_state=True, wait_timeout=60)
    assert [step["signal"] for step in again["refreshed"]] == ["START", "SHUTDOWN"] and again["changed"]
    assert [s["state"] for s in again["settled"]] == ["0"]
    assert values(zk, prefix, "network", "blue")["signal"] == "SHUTDOWN"


def address(server):
    return "%s:%d" % (server["host"], server["port"])


def component(lab, name):
    return next(c for m in lab.status()["members"] for c in m["components"] if c["path"].endswith("/%s/blue" % name))


def followers_and_leader(ensemble):
    servers = ensemble.status()["servers"]
    return [s for s in servers if s["mode"] == "follower"], next(s for s in servers if s["mode"] == "leader")


def network_faulted_on(kilda_labs, prefix, order, fault):
    """Blue's topologies, every component trying the servers ``order`` in turn (so all start on the
    first), with network/blue's last write of its next transition faulted (``lose-write``, ``cut-link``)."""
    lab = kilda_labs(prefix, "--env", "blue", "--no-services", "--bootstrap", "--session-timeout", COMPONENT_SESSIONS,
                     "--zk-in-order", zk=",".join(address(s) for s in order))
    assert component(lab, "network")["server"] == address(order[0])
    with open(os.path.join(lab.description["hang_dir"], "network"), "w") as handle:
        handle.write(fault)
    return lab


@pytest.mark.slow
def test_a_state_write_lost_with_the_components_own_server_is_named_stale_and_refreshed(healthy, kilda_labs, prefix, zk):
    """network/blue's last SHUTDOWN confirmation is written as the follower it talks to dies. The
    module talks to another server: its connection never drops and no leader is elected, so
    nothing in ZooKeeper shows the loss. The wait learns of it by watching every server and, as the
    role runs it (refresh_stale_state), refreshes the component promptly instead of waiting until
    wait_timeout."""
    (doomed, other), leader = followers_and_leader(healthy)
    lab = network_faulted_on(kilda_labs, prefix, (doomed, other, leader), "lose-write")
    killer, killed = kill_while_network_confirms(healthy, zk, prefix, doomed["name"])
    started = time.monotonic()
    result = flip(healthy, prefix, ["network"], "SHUTDOWN", first=address(other), refresh_stale_state=True, wait_timeout=90)
    took = time.monotonic() - started
    killer.join(10)
    assert killed == [doomed["name"]]
    # no election, and this module's connection stayed up: the evidence was the server going (and
    # network's watch on signal, held on another server once it reconnected)
    assert "server %s stopped serving" % address(doomed) in result["causes"], result
    assert all(c.startswith(("server %s" % address(doomed), "network/blue reconnected")) for c in result["causes"]), result
    assert [step["signal"] for step in result["refreshed"]] == ["START", "SHUTDOWN"] and result["changed"]
    assert [s["state"] for s in result["settled"]] == ["0"]
    assert took < 45, took  # long before wait_timeout
    network = component(lab, "network")
    assert network["lost_writes"] == 1 and network["active"] == 0 and network["server"] != address(doomed), network


@pytest.mark.slow
def test_a_state_write_lost_with_the_components_own_link_is_named_stale_and_refreshed(healthy, kilda_labs, prefix, zk):
    """network/blue's last SHUTDOWN confirmation is written as its own link to its server breaks:
    every server keeps serving, the module's connection (on another server) stays up and no leader
    is elected. The one trace is in the servers' watch tables: once network reconnects, its watch
    on signal is held on another server. The wait sees that (wchp) and, as the role runs it
    (refresh_stale_state), refreshes the component promptly instead of waiting until wait_timeout."""
    (theirs, mine), leader = followers_and_leader(healthy)
    lab = network_faulted_on(kilda_labs, prefix, (theirs, leader, mine), "cut-link")
    started = time.monotonic()
    result = flip(healthy, prefix, ["network"], "SHUTDOWN", first=address(mine), refresh_stale_state=True, wait_timeout=90)
    took = time.monotonic() - started
    assert len(result["causes"]) == 1, result
    moved = result["causes"][0]
    assert moved.startswith("network/blue reconnected: its watch on signal moved from session 0x"), moved
    assert moved.index(address(theirs)) < moved.index(address(leader)), moved
    assert [step["signal"] for step in result["refreshed"]] == ["START", "SHUTDOWN"] and result["changed"]
    assert [s["state"] for s in result["settled"]] == ["0"]
    assert took < 45, took  # long before wait_timeout
    network = component(lab, "network")
    assert network["lost_writes"] == 1 and network["active"] == 0 and network["server"] == address(leader), network
    assert sorted(s["mode"] for s in healthy.status()["servers"]) == ["follower", "follower", "leader"]
