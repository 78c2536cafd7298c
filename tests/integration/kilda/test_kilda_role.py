"""The kilda_blue_green role through its playbooks against the lab: full upgrade checked with
the seed's own zkCli.sh reads, rollback, and a re-run after the playbook was killed."""
import os
import signal
import subprocess
import time

import pytest

import seed
from estate import Estate
from kildatest import ROOT, TOPOLOGIES, ansible_env, failures, playbook, playbook_argv, zk_client

pytestmark = pytest.mark.timeout(240)
PLAYBOOKS = os.path.join(ROOT, "playbooks")
NEW = "green-1"
OLD = "v3r$i0n"


@pytest.fixture
def estate_factory(ensemble):
    made = []

    def make(prefix):
        estate = Estate(ensemble.description["hosts"], prefix)
        made.append(estate)
        return estate

    yield make
    for estate in made:
        estate.down()


def run(name, estate, **extra):
    rc, out = playbook(os.path.join(PLAYBOOKS, name), estate.extra_vars(**extra))
    assert rc == 0 and not failures(out), failures(out)
    return out


def changed_tasks(out):
    return [t["task"]["name"] for p in out["plays"] for t in p["tasks"]
            for r in t["hosts"].values() if r.get("changed")]


def test_upgrade_end_to_end_reads_as_the_seed_expects(ensemble, estate_factory):
    # The seed's commands use /kilda verbatim, so this test (alone) uses the default chroot.
    estate = estate_factory("/kilda")
    hosts = ensemble.description["hosts"]
    run("kilda_deploy_green.yml", estate, kilda_bg_build_version=NEW)

    green = ["/kilda/%s/green/build-version" % t for t in ["northbound", "grpc"] + seed.SEED_TOPOLOGIES]
    green_state = ["/kilda/%s/green/state" % t for t in seed.SEED_TOPOLOGIES]
    run_ids = ["/kilda/%s/build-version" % n for n in seed.RUN_ID_NODES]
    got = seed.zkcli_get(hosts, green + green_state + run_ids + ["/kilda/floodlight/1/build-version",
                                                                 "/kilda/floodlight/1/state",
                                                                 "/kilda/floodlight/2/build-version",
                                                                 "/kilda/network/blue/state"])
    assert {got[p] for p in green + run_ids} == {NEW}, got
    assert all(int(got[p]) > 0 for p in green_state), got
    assert got["/kilda/floodlight/1/build-version"] == NEW and got["/kilda/floodlight/1/state"] == "6"
    assert got["/kilda/floodlight/2/build-version"] == OLD  # the old colour's region waits for promotion
    assert got["/kilda/network/blue/state"] == "0"

    again = run("kilda_deploy_green.yml", estate, kilda_bg_build_version=NEW)
    assert changed_tasks(again) == []

    run("kilda_promote.yml", estate, kilda_bg_build_version=NEW)
    blue_state = ["/kilda/floodlight/1/state"] + ["/kilda/%s/blue/state" % t for t in seed.SEED_TOPOLOGIES]
    got = seed.zkcli_get(hosts, blue_state + ["/kilda/floodlight/2/build-version", "/kilda/floodlight/2/state"])
    assert got["/kilda/floodlight/2/build-version"] == NEW and got["/kilda/floodlight/2/state"] == "6"
    assert all(got["/kilda/%s/blue/state" % t] == "0" for t in seed.SEED_TOPOLOGIES), got
    assert "topologies-blue" not in estate.units() and "topologies-green" in estate.units()


def test_rollback_restores_blue_including_what_the_doc_leaves_out(ensemble, estate_factory, prefix):
    estate = estate_factory(prefix)
    run("kilda_deploy_green.yml", estate, kilda_bg_build_version=NEW)
    run("kilda_rollback.yml", estate, kilda_bg_build_version=NEW)
    zk = zk_client(ensemble.description["hosts"])
    try:
        def get(path):
            return zk.get(prefix + path)[0].decode()
        assert get("/network/blue/signal") == "START"
        assert get("/network/blue/state") == get("/network/blue/expected_state")
        assert get("/network/green/signal") == "SHUTDOWN" and get("/network/green/state") == "0"
        assert get("/floodlight/1/build-version") == OLD and get("/floodlight/1/state") == "6"
        assert get("/func_test/func_test_run_id/build-version") == OLD
        assert all(get("/%s/green/state" % t) == "0" for t in TOPOLOGIES)
    finally:
        zk.stop()
        zk.close()
    assert "topologies-green" not in estate.units()
    # The restarted Floodlight 1 runs the old release's version again.
    fl1 = estate.status("floodlight-1")["members"][0]["components"][0]
    assert fl1["build_version"] == OLD and fl1["active"] == 6


def test_rerun_after_the_playbook_was_killed_completes(ensemble, estate_factory, prefix):
    estate = estate_factory(prefix)
    extra = estate.extra_vars(kilda_bg_build_version=NEW)
    argv = playbook_argv(os.path.join(PLAYBOOKS, "kilda_deploy_green.yml"), extra)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ansible_env(),
                            start_new_session=True)
    zk = zk_client(ensemble.description["hosts"])
    try:
        # Kill it once green is half way: topologies started but the network not switched yet.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if zk.exists(prefix + "/flowhs/green/signal") and zk.get(prefix + "/flowhs/green/signal")[0] == b"START":
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the playbook ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert zk.get(prefix + "/network/green/signal")[0] != b"START"

        out = run("kilda_deploy_green.yml", estate, kilda_bg_build_version=NEW)
        assert zk.get(prefix + "/network/green/signal")[0] == b"START"
        assert zk.get(prefix + "/network/blue/state")[0] == b"0"
        # The re-run went forward: green's topologies were never sent back to SHUTDOWN.
        assert "Step 1 - pre-set green to SHUTDOWN with build-version %s" % NEW not in changed_tasks(out)
    finally:
        zk.stop()
        zk.close()
