import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ValidationError,
    WaitTimeout,
    ZdtError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Deadline
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import servers, signal
from fakezk import FakeZk

BLUE = ["network", "flowhs", "stats"]


def blue(signal_value="START", version="v1"):
    nodes = {}
    for name in BLUE:
        base = "/kilda/%s/blue" % name
        nodes.update({base + "/signal": signal_value, base + "/state": "3", base + "/expected_state": "3",
                      base + "/build-version": version})
    return FakeZk(nodes)


def params(**kw):
    # the wait watches the servers of hosts (servers.py): none listens on port 1, so none gives evidence
    out = dict(hosts="127.0.0.1:1", prefix="/kilda", targets=[{"component": n, "env": "blue"} for n in BLUE], signal=None,
               build_version=None, create_missing=False, wait=False, wait_timeout=5, poll_interval=0.01)
    out.update(kw)
    return out


def test_flip_writes_every_target_in_one_transaction():
    zk = blue()
    result = signal.run(zk, params(signal="SHUTDOWN"), check_mode=False)
    assert result["changed"] and zk.commits == 1
    assert [zk.value("/kilda/%s/blue/signal" % n) for n in BLUE] == ["SHUTDOWN"] * 3
    assert all(t["before"]["signal"] == "START" and t["after"]["signal"] == "SHUTDOWN" for t in result["targets"])


def test_second_run_changes_nothing():
    zk = blue()
    signal.run(zk, params(signal="SHUTDOWN", build_version="v2"), check_mode=False)
    again = signal.run(zk, params(signal="SHUTDOWN", build_version="v2"), check_mode=False)
    assert not again["changed"] and again["operations"] == [] and zk.commits == 1


def test_check_mode_predicts_and_writes_nothing():
    zk = blue()
    before = dict(zk.nodes)
    result = signal.run(zk, params(signal="SHUTDOWN", wait=True), check_mode=True)
    assert result["changed"] and zk.commits == 0 and zk.nodes == before
    assert result["targets"][0]["after"]["signal"] == "SHUTDOWN"
    assert "/kilda/network/blue/signal = START" in result["diff"]["before"]
    assert "/kilda/network/blue/signal = SHUTDOWN" in result["diff"]["after"]
    assert result["waited_for"] == []


def test_missing_nodes_are_not_created_implicitly_and_nothing_is_written():
    zk = blue()
    targets = [{"component": "network", "env": "blue"}, {"component": "network", "env": "green"}]
    with pytest.raises(ValidationError) as err:
        signal.run(zk, params(targets=targets, signal="SHUTDOWN"), check_mode=False)
    assert "/kilda/network/green/signal" in str(err.value) and "create_missing" in str(err.value)
    assert zk.value("/kilda/network/blue/signal") == "START" and zk.commits == 0


def test_create_missing_presets_an_undeployed_colour_with_parents_first():
    zk = FakeZk({"/kilda/network/blue/signal": "START"})
    targets = [{"component": "network", "env": "green"}, {"component": "history", "env": "green"}]
    result = signal.run(zk, params(targets=targets, signal="SHUTDOWN", build_version="v2", create_missing=True),
                        check_mode=False)
    paths = [o["path"] for o in result["operations"]]
    assert paths.index("/kilda/history") < paths.index("/kilda/history/green") < paths.index("/kilda/history/green/signal")
    assert "/kilda/network" not in paths  # existing parents are left alone
    assert zk.value("/kilda/history/green/build-version") == "v2"
    assert zk.value("/kilda/history/green/state") is None  # only what was asked for


def test_signal_alone_never_creates_build_version():
    zk = FakeZk({"/kilda/x": ""})
    signal.run(zk, params(targets=[{"component": "network", "env": "green"}], signal="SHUTDOWN", create_missing=True),
               check_mode=False)
    assert zk.value("/kilda/network/green/signal") == "SHUTDOWN"
    assert zk.value("/kilda/network/green/build-version") is None


def test_empty_build_version_is_refused_before_anything_is_read():
    zk = blue()
    with pytest.raises(ValidationError):
        signal.run(zk, params(build_version="", create_missing=True), check_mode=False)
    assert zk.commits == 0


def test_a_concurrent_write_aborts_the_whole_batch_and_is_replanned():
    zk = blue()
    # Someone else flips stats between our read and our commit: our multi must fail entirely
    # (no half-applied flip), then succeed on a fresh read without clobbering anything.
    zk.before_commit = lambda fake: fake.put("/kilda/stats/blue/signal", "SHUTDOWN")
    result = signal.run(zk, params(signal="SHUTDOWN"), check_mode=False)
    assert result["commit_attempts"] == 2 and zk.commits == 2
    assert [zk.value("/kilda/%s/blue/signal" % n) for n in BLUE] == ["SHUTDOWN"] * 3
    expected = ["/kilda/network/blue/signal", "/kilda/flowhs/blue/signal", "/kilda/stats/blue/signal"]
    assert [o["path"] for o in result["operations"]] == expected


def test_persistent_conflicts_give_up_with_a_named_error():
    zk = blue()

    def always_race(fake):
        fake.put("/kilda/network/blue/build-version", "other")
        fake.before_commit = always_race

    zk.before_commit = always_race
    with pytest.raises(ZdtError, match="could not commit"):
        signal.run(zk, params(build_version="v2"), check_mode=False)


def test_wait_timeout_names_every_pending_component_with_values():
    zk = blue()
    zk.put("/kilda/flowhs/blue/state", "2")
    with pytest.raises(WaitTimeout) as err:
        signal.run(zk, params(signal="START", wait=True, wait_timeout=0.2), check_mode=False)
    text = str(err.value)
    assert "flowhs/blue" in text and "state=2" in text and "expected_state=3" in text
    assert "network/blue" not in text.split("Still pending")[1]
    # a write lost unseen looks like a hung component: the way out for it is in the message
    assert "if its log shows a failed write of state, send SHUTDOWN and then START again" in text
    assert err.value.details["changed"] is False
    assert [p["component"] for p in err.value.last] == ["flowhs"]


def test_version_only_components_are_not_waited_for():
    zk = FakeZk({"/kilda/northbound/green/signal": "", "/kilda/northbound/green/build-version": "v1"})
    result = signal.run(zk, params(targets=[{"component": "northbound", "env": "green"}], signal="START", wait=True),
                        check_mode=False)
    assert result["waited_for"] == [] and result["changed"]


def test_shutdown_wait_accepts_an_undeployed_colour():
    zk = FakeZk({"/kilda/network/green/signal": "START"})
    result = signal.run(zk, params(targets=[{"component": "network", "env": "green"}], signal="SHUTDOWN", wait=True),
                        check_mode=False)
    assert result["waited_for"] == ["network/green"] and result["settled"][0]["state"] is None


class _Target:
    def __init__(self, key):
        self.key = key


class _StagedWaits:
    """A SignalService whose waits end as scripted: StaleState for the keys given, or done."""

    prefix = "/kilda"
    signal = "SHUTDOWN"
    component_session_timeout = None

    def __init__(self, *rounds):
        self.rounds = list(rounds)

    def wait(self, waited, timeout, interval, before=None):
        keys = self.rounds.pop(0)
        if keys is None:
            return "settled"
        raise signal.StaleState("stale", stale=[_Target(k) for k in keys], causes=["a leader election"])

    def waited(self, snapshots):
        return snapshots

    def reread(self, deadline):
        return []


def refresh_recorder(monkeypatch):
    calls = []
    monkeypatch.setattr(signal, "refresh_stale", lambda client, prefix, targets, *a, **kw: calls.append(
        [t.key for t in targets]) or [{"targets": [t.key for t in targets]}])
    return calls


def wait_refreshing(service):
    result = {"changed": False, "refreshed": [], "causes": []}
    outcome = signal._wait_refreshing(None, {"refresh_stale_state": True}, service, [], [], Deadline(5), 0.01, result)
    return outcome, result


def test_a_component_found_stale_after_the_first_refresh_is_refreshed_too(monkeypatch):
    calls = refresh_recorder(monkeypatch)
    outcome, result = wait_refreshing(_StagedWaits(["network/blue"], ["flowhs/blue"], None))
    assert outcome == "settled" and calls == [["network/blue"], ["flowhs/blue"]]
    assert result["changed"] and result["causes"] == ["a leader election"] and len(result["refreshed"]) == 2


def test_a_component_stale_again_after_its_refresh_fails_naming_it(monkeypatch):
    calls = refresh_recorder(monkeypatch)
    with pytest.raises(signal.StaleState, match="found them stale again.*network/blue"):
        wait_refreshing(_StagedWaits(["network/blue"], ["network/blue"], None))
    assert calls == [["network/blue"]]


NETWORK_SIGNAL = "/kilda/network/blue/signal"


def scripted_watches(monkeypatch, zk, before, after):
    """servers.watch_holders answers ``before`` while network's signal is still START (the look
    before the commit), ``after`` once it is written."""
    monkeypatch.setattr(servers, "watch_holders", lambda *a, **kw: before if zk.value(NETWORK_SIGNAL) == "START" else after)
    monkeypatch.setattr(servers, "WATCHES_EVERY", 0.05)
    monkeypatch.setattr(signal, "STALE_GRACE", 0.3)


def test_a_pending_state_whose_components_watch_moved_is_named_stale_with_that_cause(monkeypatch):
    zk = blue()
    scripted_watches(monkeypatch, zk, {NETWORK_SIGNAL: {("a:1", "0x1")}}, {NETWORK_SIGNAL: {("b:2", "0x1")}})
    network = [{"component": "network", "env": "blue"}]
    with pytest.raises(signal.StaleState) as failure:
        signal.run(zk, params(targets=network, signal="SHUTDOWN", wait=True, wait_timeout=10, component_session_timeout=0.1),
                   check_mode=False)
    assert failure.value.details["causes"] == [
        "network/blue reconnected: its watch on signal moved from session 0x1 on a:1 to session 0x1 on b:2"]
    assert [t.key for t in failure.value.stale] == ["network/blue"]


def test_a_pending_state_whose_components_watch_stayed_is_only_slow(monkeypatch):
    zk = blue()
    scripted_watches(monkeypatch, zk, {NETWORK_SIGNAL: {("a:1", "0x1")}}, {NETWORK_SIGNAL: {("a:1", "0x1")}})
    with pytest.raises(WaitTimeout):
        signal.run(zk, params(targets=[{"component": "network", "env": "blue"}], signal="SHUTDOWN", wait=True, wait_timeout=2,
                              component_session_timeout=0.1), check_mode=False)
