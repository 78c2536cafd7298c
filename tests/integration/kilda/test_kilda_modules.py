"""kilda_zk_signal and kilda_zk_info through real Ansible against the ZooKeeper ensemble and
the component simulators."""
import os

import pytest

from kildatest import TOPOLOGIES, module, targets, tree, values

pytestmark = pytest.mark.timeout(120)
FLOODLIGHTS = [{"component": "floodlight", "env": "1"}, {"component": "floodlight", "env": "2"}]


def conn(ensemble, prefix, **kw):
    out = {"hosts": ensemble.description["hosts"], "prefix": prefix, "poll_interval": 0.2}
    out.update(kw)
    return out


def sim_component(lab, path):
    for member in lab.status()["members"]:
        for component in member["components"]:
            if component["path"] == path:
                return component
    raise AssertionError("no simulator for %s" % path)


@pytest.mark.slow
def test_info_sees_the_whole_blue_colour_as_consistent(ensemble, blue, prefix):
    result = module("kilda_zk_info", {"hosts": ensemble.description["hosts"], "prefix": prefix, "env": "blue",
                                      "regions": ["1", "2"]})
    assert not result.get("failed"), result.get("msg")
    ids = {c["id"] for c in result["components"]}
    assert {"%s/blue" % t for t in TOPOLOGIES} | {"northbound/blue", "grpc/blue", "floodlight/1", "floodlight/2"} <= ids
    assert result["verdict"]["consistent"], result["verdict"]["problems"]
    assert result["verdict"]["build_versions"] == ["v3r$i0n"]
    flowhs = next(c for c in result["components"] if c["id"] == "flowhs/blue")
    assert flowhs["state"] == flowhs["expected_state"] == "12"
    assert result["changed"] is False


@pytest.mark.slow
def test_shutdown_all_blue_waits_for_the_drain_and_is_idempotent(ensemble, blue, prefix, zk):
    args = conn(ensemble, prefix, targets=targets("blue") + FLOODLIGHTS, signal="SHUTDOWN", wait_timeout=60)
    first = module("kilda_zk_signal", args)
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] and first["commit_attempts"] == 1 and len(first["operations"]) == 17
    for t in targets("blue") + FLOODLIGHTS:
        assert values(zk, prefix, t["component"], t["env"])["state"] == "0", t
    # Hubs only confirm after their in-flight operation ended, so the drain really happened.
    assert sim_component(blue, "%s/flowhs/blue" % prefix)["in_flight_finished"] >= 8
    # Every task got SHUTDOWN at once (ZooKeeperSpout emits to all tasks): all 8 hubs of flowhs
    # were draining together, not one after another.
    assert sim_component(blue, "%s/flowhs/blue" % prefix)["peak_draining"] == 8
    assert sim_component(blue, "%s/floodlight/1" % prefix)["active"] == 0

    again = module("kilda_zk_signal", args)
    assert not again.get("failed") and again["changed"] is False and again["operations"] == []

    start = module("kilda_zk_signal", dict(args, signal="START"))
    assert not start.get("failed"), start.get("msg")
    for t in targets("blue") + FLOODLIGHTS:
        v = values(zk, prefix, t["component"], t["env"])
        assert v["state"] == v["expected_state"] and int(v["state"]) > 0, (t, v)


@pytest.mark.slow
def test_check_mode_predicts_but_changes_nothing(ensemble, blue, prefix, zk):
    before = tree(zk, prefix)
    args = conn(ensemble, prefix, targets=targets("blue") + [{"component": "network", "env": "green"}],
                signal="SHUTDOWN", build_version="green-1", create_missing=True)
    result = module("kilda_zk_signal", args, check=True, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["waited_for"] == []
    assert "%s/network/green/build-version = green-1" % prefix in result["diff"]["after"]
    assert tree(zk, prefix) == before


@pytest.mark.slow
def test_hung_component_times_out_and_is_named(ensemble, blue, prefix, zk):
    hang = os.path.join(blue.description["hang_dir"], "flowhs")
    open(hang, "w").close()
    try:
        result = module("kilda_zk_signal", conn(ensemble, prefix, targets=targets("blue"), signal="SHUTDOWN",
                                                wait_timeout=2))
        assert result.get("failed")
        assert "1 of 15" in result["msg"] and "flowhs/blue" in result["msg"]
        pending = result["msg"].split("Still pending:")[1]
        assert "network/blue" not in pending and "want 0" in pending
        assert [p["component"] for p in result["last_observed"]] == ["flowhs"]
        assert values(zk, prefix, "network", "blue")["state"] == "0"  # the others did settle
    finally:
        os.unlink(hang)
    retry = module("kilda_zk_signal", conn(ensemble, prefix, targets=targets("blue"), signal="SHUTDOWN",
                                           wait_timeout=20))
    assert not retry.get("failed") and retry["changed"] is False
    assert values(zk, prefix, "flowhs", "blue")["state"] == "0"


@pytest.mark.slow
def test_green_nodes_are_created_only_when_asked(ensemble, blue, kilda_labs, prefix, zk):
    args = conn(ensemble, prefix, targets=targets("green") + [{"component": "northbound", "env": "green"}],
                signal="SHUTDOWN", build_version="green-1")
    refused = module("kilda_zk_signal", args)
    assert refused.get("failed") and "%s/network/green/signal" % prefix in refused["msg"]
    assert zk.exists("%s/network/green" % prefix) is None

    empty = module("kilda_zk_signal", dict(args, build_version="", create_missing=True))
    assert empty.get("failed") and "must not be empty" in empty["msg"]
    assert zk.exists("%s/network/green" % prefix) is None

    created = module("kilda_zk_signal", dict(args, create_missing=True))
    assert not created.get("failed"), created.get("msg")
    expected = {"signal": "SHUTDOWN", "state": None, "expected_state": None, "build-version": "green-1"}
    assert values(zk, prefix, "network", "green") == expected
    # Green deployed afterwards reads the pre-set values and stays inactive.
    green = kilda_labs(prefix, "--env", "green")
    network = sim_component(green, "%s/network/green" % prefix)
    assert network["build_version"] == "green-1" and network["active"] == 0
    assert values(zk, prefix, "network", "green")["expected_state"] == "3"
    assert values(zk, prefix, "network", "green")["state"] == ""
