"""The kilda_blue_green role through its playbooks against the lab: full upgrade checked with
the seed's own zkCli.sh reads, rollback, and a re-run after the playbook was killed."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

import seed
from kildatest import ROOT, TOPOLOGIES, ansible_env, failures, messages, playbook, playbook_argv, tree, zk_client

pytestmark = pytest.mark.timeout(480)  # a whole upgrade takes about 200 s with four workers on two cores
PLAYBOOKS = os.path.join(ROOT, "playbooks")
HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks")
NEW = "green-1"
OLD = "v3r$i0n"


def run(name, estate, **extra):
    rc, out = playbook(os.path.join(PLAYBOOKS, name), estate.extra_vars(**extra))
    assert rc == 0 and not failures(out), failures(out)
    return out


def changed_tasks(out):
    return [t["task"]["name"] for p in out["plays"] for t in p["tasks"]
            for r in t["hosts"].values() if r.get("changed")]


def changed_count(out):
    return sum(host["changed"] for host in out["stats"].values())


def hook_actions(out):
    """The lab hook's actions a run reached (its tasks are named after the unit they act on)."""
    names = [t["task"]["name"].split(" : ")[-1] for p in out["plays"] for t in p["tasks"]]
    return [name for name in names if name.startswith("Is ")]


def deploy_killed_half_way_then_rerun(ensemble, estate):
    """Start the deploy, kill -9 it (and its workers) once green is half way - topologies started,
    the network not switched yet - and run it again: the re-run must go forward, not start over."""
    prefix = estate.prefix
    argv = playbook_argv(os.path.join(PLAYBOOKS, "kilda_deploy_green.yml"), estate.extra_vars(kilda_blue_green_build_version=NEW))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ansible_env(),  # pylint: disable=consider-using-with
                            start_new_session=True)
    zk = zk_client(ensemble.description["hosts"])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if zk.exists(prefix + "/flowhs/green/signal") and zk.get(prefix + "/flowhs/green/signal")[0] == b"START":
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the playbook ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert zk.get(prefix + "/network/green/signal")[0] != b"START"

        out = run("kilda_deploy_green.yml", estate, kilda_blue_green_build_version=NEW)
        assert zk.get(prefix + "/network/green/signal")[0] == b"START"
        assert zk.get(prefix + "/network/blue/state")[0] == b"0"
        # The re-run went forward: green's topologies were never sent back to SHUTDOWN.
        assert "Step 1 - pre-set green to SHUTDOWN with build-version %s" % NEW not in changed_tasks(out)
    finally:
        zk.stop()
        zk.close()


@pytest.mark.timeout(600)  # a deploy killed half way, its re-run, one more, the promote, then three runs that change nothing
@pytest.mark.slow
@pytest.mark.long
def test_upgrade_killed_mid_deploy_completes_reads_as_the_seed_expects_and_then_changes_nothing(ensemble, default_chroot, estate_factory):
    """The deploy (killed half way and run again) and the promote as separate playbooks, checked with the
    seed's own zkCli.sh reads; then three runs that must each change nothing: a re-run of the upgrade, a
    rollback past the promote, and the next release's deploy with the last upgrade's colours.
    (kilda_upgrade.yml in one go, and its idempotence, is the Molecule scenario kilda_blue_green.)"""
    # The seed's commands use /kilda verbatim, so this test uses the default chroot (as test_docs_kilda does).
    estate = estate_factory(default_chroot)
    hosts = ensemble.description["hosts"]
    deploy_killed_half_way_then_rerun(ensemble, estate)

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

    again = run("kilda_deploy_green.yml", estate, kilda_blue_green_build_version=NEW)
    assert changed_tasks(again) == []

    run("kilda_promote.yml", estate, kilda_blue_green_build_version=NEW)
    blue_state = ["/kilda/floodlight/1/state"] + ["/kilda/%s/blue/state" % t for t in seed.SEED_TOPOLOGIES]
    got = seed.zkcli_get(hosts, blue_state + ["/kilda/floodlight/2/build-version", "/kilda/floodlight/2/state"])
    assert got["/kilda/floodlight/2/build-version"] == NEW and got["/kilda/floodlight/2/state"] == "6"
    assert all(got["/kilda/%s/blue/state" % t] == "0" for t in seed.SEED_TOPOLOGIES), got
    assert "topologies-blue" not in estate.units() and "topologies-green" in estate.units()
    upgraded = reports(estate)

    # A re-run finds the upgrade done.
    rc, out = changing_nothing(ensemble, estate, "kilda_upgrade.yml")
    assert rc == 0 and not failures(out), failures(out)
    assert any("already upgraded to %s on " % NEW in m.lower() for m in messages(out)), messages(out)
    # Each phase run before the upgrade was done kept its own report (the deploy's re-run too: it checked
    # green again), the latest is the promote's.
    runs = sorted(name for name in upgraded if name != "journal-report.json")
    assert [json.loads(upgraded[name])["phase"] for name in runs] == ["deploy", "deploy", "promote"], runs
    promoted = json.loads(upgraded[runs[-1]])
    assert upgraded["journal-report.json"] == upgraded[runs[-1]]
    assert promoted["build_version"] == NEW and set(promoted["completed"]) == {"deployed", "promoted"}
    assert runs[-1] == "journal-report-%s.json" % re.sub(r"[-:]", "", promoted["finished_at"])
    with open(os.path.join(estate.root, "journal.json")) as handle:
        recorded = json.load(handle)["reports"]["promote"]
    assert recorded == {"file": os.path.join(os.path.realpath(estate.root), runs[-1]), "at": promoted["finished_at"]}
    # The re-run wrote no report, left those of the upgrade as they were and named the promote's.
    assert reports(estate) == upgraded
    said = "\n".join(messages(out))
    assert "Already upgraded on %s, report: %s" % (promoted["finished_at"], promoted["report_file"]) in said, said

    # A rollback after the promote is refused before anything changes; the reason names what was found
    # and what to do instead.
    rc, out = changing_nothing(ensemble, estate, "kilda_rollback.yml")
    assert rc != 0
    (task, msg), = failures(out)
    assert "nothing was changed" in msg and "flowhs/blue" in msg and "network/green" in msg, msg
    assert "terminated by the promote" in msg and "deploy the old release as a new colour" in msg, msg

    # The next release with the colours of the last upgrade: green serves, so the deploy must not touch it.
    rc, out = changing_nothing(ensemble, estate, "kilda_deploy_green.yml", build_version="green-2")
    assert rc != 0
    (task, msg), = failures(out)
    assert "Deploy refused, nothing was changed: blue is not the serving colour" in msg and "kilda_blue_green_from=green" in msg, msg


def reports(estate):
    """{file name: content} of the role's reports in the estate: the latest (journal-report.json, beside the
    journal) and one per phase run that changed Kilda (journal-report-<UTC time>.json)."""
    found = {}
    for name in sorted(os.listdir(estate.root)):
        if re.match(r"^journal-report(-\d{8}T\d{6}Z)?\.json$", name):
            with open(os.path.join(estate.root, name)) as handle:
                found[name] = handle.read()
    return found


def changing_nothing(ensemble, estate, name, build_version=NEW):
    """Run playbook ``name``; return (rc, out) once it is checked that the run wrote nothing to
    ZooKeeper, ran no hook and left every unit as it was."""
    units = estate.units()
    zk = zk_client(ensemble.description["hosts"])
    try:
        before = tree(zk, estate.prefix)
        rc, out = playbook(os.path.join(PLAYBOOKS, name), estate.extra_vars(kilda_blue_green_build_version=build_version))
        assert tree(zk, estate.prefix) == before, "%s wrote to ZooKeeper" % name
    finally:
        zk.stop()
        zk.close()
    assert changed_count(out) == 0 and hook_actions(out) == [], (changed_tasks(out), hook_actions(out))
    assert estate.units() == units  # green still runs, nothing was redeployed or terminated
    return rc, out


@pytest.mark.timeout(360)  # three playbooks
@pytest.mark.slow
@pytest.mark.long
def test_rollback_after_a_promote_that_failed_at_the_floodlights_restores_blue_including_what_the_doc_leaves_out(
        ensemble, estate_factory, prefix):
    """A promote that failed at the Floodlights has drained and re-versioned Floodlight 2 on top of all the
    deploy did: the rollback must restore both. (A rollback right after the deploy is the Molecule scenario
    kilda_rollback.)"""
    estate = estate_factory(prefix)
    run("kilda_deploy_green.yml", estate, kilda_blue_green_build_version=NEW)
    rc, out = playbook(os.path.join(PLAYBOOKS, "kilda_promote.yml"), estate.extra_vars(
        kilda_blue_green_build_version=NEW, kilda_blue_green_hook_deploy_floodlight=os.path.join(HOOKS, "floodlight_deploy_fails.yml")))
    assert rc != 0 and "did not come up" in str(failures(out))
    # Blue's topologies still run (the promote stopped before them), so the rollback can and must succeed.
    run("kilda_rollback.yml", estate, kilda_blue_green_build_version=NEW)
    zk = zk_client(ensemble.description["hosts"])
    try:
        def get(path):
            return zk.get(prefix + path)[0].decode()
        assert get("/network/blue/signal") == "START"
        assert get("/network/blue/state") == get("/network/blue/expected_state")
        assert get("/network/green/signal") == "SHUTDOWN" and get("/network/green/state") == "0"
        assert get("/floodlight/1/build-version") == OLD and get("/floodlight/1/state") == "6"
        assert get("/floodlight/2/build-version") == OLD and get("/floodlight/2/state") == "6"
        assert get("/func_test/func_test_run_id/build-version") == OLD
        assert all(get("/%s/green/state" % t) == "0" for t in TOPOLOGIES)
    finally:
        zk.stop()
        zk.close()
    assert "topologies-green" not in estate.units()
    # The restarted Floodlights run the old release's version again.
    for unit in ("floodlight-1", "floodlight-2"):
        fl = estate.status(unit)["members"][0]["components"][0]
        assert fl["build_version"] == OLD and fl["active"] == 6, (unit, fl)


# (the check mode of kilda_deploy_green, kilda_promote and kilda_rollback is test_docs_kilda: the runbook runs them)
@pytest.mark.parametrize("name", ["kilda_upgrade.yml"])
def test_check_mode_prints_the_plan_and_changes_nothing(ensemble, estate_factory, prefix, name):
    estate = estate_factory(prefix)
    zk = zk_client(ensemble.description["hosts"])
    try:
        before = tree(zk, prefix)
        started = time.monotonic()
        rc, out = playbook(os.path.join(PLAYBOOKS, name), estate.extra_vars(kilda_blue_green_build_version=NEW), check=True)
        took = time.monotonic() - started
        # (a phase's refusal is caught and reported as the plan: no host failed)
        assert rc == 0 and out["stats"]["localhost"]["failures"] == 0, failures(out)
        assert tree(zk, prefix) == before, "check mode changed ZooKeeper"
    finally:
        zk.stop()
        zk.close()
    said = "\n".join(messages(out))
    assert "check mode: nothing was changed" in said.lower(), said[-2000:]
    if name != "kilda_promote.yml":
        assert re.search(r"up to \d+(\.\d+)? s in all", said), "the plan gives its longest duration: %s" % said[-2000:]
    if name in ("kilda_promote.yml", "kilda_upgrade.yml"):
        # nothing is deployed: a promote now would be refused, and the plan says why
        assert "A promote now would be refused" in said and "green is not ready" in said, said[-2000:]
    assert took < 60, "check mode took %.0f s" % took
    assert not os.path.exists(estate.extra_vars()["kilda_blue_green_journal_path"]), "check mode wrote the journal"


def test_a_hook_that_is_not_set_or_not_a_file_is_refused_before_anything_changes(ensemble, estate_factory, prefix, tmp_path):
    estate = estate_factory(prefix)
    zk = zk_client(ensemble.description["hosts"])
    try:
        before = tree(zk, prefix)
        gone = str(tmp_path / "no-such-hook.yml")
        rc, out = playbook(os.path.join(PLAYBOOKS, "kilda_deploy_green.yml"),
                           estate.extra_vars(kilda_blue_green_build_version=NEW, kilda_blue_green_hook_deploy_grpc=gone,
                                             kilda_blue_green_hook_deploy_northbound=""))
        assert rc != 0
        said = "\n".join(messages(out))
        assert "Phase deploy refused before anything changed: kilda_blue_green_hook_deploy_grpc names %s, which is not a file" % gone \
            in said, said[-2000:]
        assert "kilda_blue_green_hook_deploy_northbound is not set" in said
        assert tree(zk, prefix) == before
    finally:
        zk.stop()
        zk.close()


def test_refusals_name_the_actual_cause(ensemble, estate_factory, prefix):
    estate = estate_factory(prefix)
    rc, out = playbook(os.path.join(PLAYBOOKS, "kilda_deploy_green.yml"), estate.extra_vars())
    said = "\n".join(messages(out))
    assert rc != 0
    assert "Refused before anything changed: kilda_blue_green_build_version is not set: phase deploy needs the build-version" in said, said
    assert "colours must differ" not in said and "Floodlight region" not in said
    # nothing deployed: the decision point lists what is wrong, never an empty list
    rc, out = playbook(os.path.join(PLAYBOOKS, "kilda_decision.yml"), estate.extra_vars(kilda_blue_green_build_version=NEW))
    said = "\n".join(messages(out))
    assert rc != 0 and "Decision point: green is not ready: " in said, said
    assert "Problems: []" not in said and "network/green" in said, said
