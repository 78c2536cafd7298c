"""A blue node killed in the middle of a pass: the failure is reported clearly, a re-run with the
node still down is refused by the quorum check, and once it is back a re-run completes with exact
parity and no duplicates (DELETE_AFTER makes re-sending documents already on green safe).
The green node that owns the task killed in the middle of a pass: reported at once as ORPHANED
(Xenon's new owner never resumes the pass), and a re-run through a live green node completes."""
import json
import os
import time

import httpx
import pytest

from xenon_lab import wait_group
from xenontest import ROOT, documents, finish_module, info_args, migration_args, run_module, run_playbook, seed, start_module, start_playbook

pytestmark = pytest.mark.timeout(150)


def wait_for_progress(lab, minimum, timeout=30.0):
    green = lab.description["green"]["nodes"][0]["url"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = httpx.get(green + "/management/migration-tasks?expand", timeout=5).json().get("documents") or {}
        for link in tasks:
            entries = httpx.get(green + link + "/stats", timeout=5).json()["entries"]
            if entries.get("fetchedDocumentCount", {}).get("latestValue", 0) >= minimum:
                return link
        time.sleep(0.02)
    raise AssertionError("no migration task fetched %d documents within %.0fs" % (minimum, timeout))


@pytest.mark.slow
def test_blue_node_killed_mid_migration_then_rerun_reaches_exact_parity(lab_factory):
    lab = lab_factory("xenon", "--blue", 2, "--green", 2)
    seed(lab, 1200)
    # pages of two documents: 600 pages keep the pass going for several seconds, so the kill lands in
    # it (120 pages of ten were all copied in 1.4 s, before the kill, on a fast machine)
    args = migration_args(lab, query_spec={"resultLimit": 2})

    proc, output = start_module("xenon_migration", args)
    wait_for_progress(lab, 100)
    lab.fault("kill", "blue-2")
    failed = finish_module(proc, output)
    assert failed["failed"], failed
    factory = failed["last_observed"]["factories"][0]
    assert factory["stage"] == "FAILED" and 0 < factory["processed"] < 1200
    assert "/core/examples" in failed["msg"] and factory["failure"] in failed["msg"]

    refused = run_module("xenon_migration", args)
    assert refused["failed"] and "quorum" in refused["msg"] and "blue-2=UNAVAILABLE" in refused["msg"], refused["msg"]

    lab.fault("start", "blue-2")
    wait_group([n["url"] for n in lab.description["blue"]["nodes"]], auth=False)
    rerun = run_module("xenon_migration", args)
    assert not rerun["failed"], rerun["msg"]
    assert rerun["factories"][0]["mode"] == "full" and rerun["documents_moved"] == 1200

    blue, green = documents(lab, "blue"), documents(lab, "green")
    assert len(blue) == len(green) == 1200 and sorted(blue) == sorted(green)
    parity = run_module("xenon_migration_info", info_args(lab, parity=True))
    assert parity["in_parity"], parity["factories"]
    assert parity["factories"][0]["destination_count"] == 1200


def task_owner(lab, link):
    green = lab.description["green"]["nodes"][0]["url"]
    return httpx.get(green + link, timeout=10).json()["documentOwner"]


DOCS = 1000


@pytest.mark.slow
def test_green_task_owner_killed_mid_migration_fails_promptly_then_rerun_reaches_exact_parity(lab_factory):
    """Xenon replicates a migration task but only its owner runs the pass: the node that takes the
    task over keeps it CREATED and never resumes it. The module must say so at once (not wait for
    wait_timeout), and a re-run with the owner still down (the group keeps its quorum) completes."""
    lab = lab_factory("xenon", "--blue", 1, "--green", 3)
    seed(lab, DOCS)
    # pages of 1 make the pass last long enough to kill its owner in the middle of it: about 12 ms a
    # page on an idle machine, and a pass of 300 once ended in 3.7 s, before labctl's kill of the owner
    # landed on a loaded one (labctl is a Python process of its own)
    args = migration_args(lab, query_spec={"resultLimit": 1}, wait_timeout=600)

    proc, output = start_module("xenon_migration", args)
    owner = task_owner(lab, wait_for_progress(lab, 10))
    lab.fault("kill", owner)
    failed = finish_module(proc, output)
    assert failed["failed"], failed
    factory = failed["last_observed"]["factories"][0]
    assert factory["stage"] == "ORPHANED" and 0 < factory["processed"] < DOCS, factory
    assert owner in failed["msg"] and "Re-run" in failed["msg"] and "never resumes" in failed["msg"], failed["msg"]
    assert failed["elapsed"] < 300, "the lost owner must be reported long before wait_timeout: %s" % failed["elapsed"]

    alive = [n["url"] for n in lab.description["green"]["nodes"] if n["name"] != owner]
    stuck = httpx.get(alive[0] + factory["task"], timeout=10).json()
    assert stuck["taskInfo"]["stage"] == "FAILED" and owner in stuck["taskInfo"]["failure"]["message"]

    # a re-run through the dead owner itself is told to use a node that is up
    dead = next(n["url"] for n in lab.description["green"]["nodes"] if n["name"] == owner)
    refused = run_module("xenon_migration", migration_args(lab, url=dead, destination_node_group=dead + "/core/node-groups/default"))
    assert refused["failed"] and "the green node at %s does not answer" % dead in refused["msg"], refused["msg"]

    # the way out the message names: re-run through a green node that is up (default page size this time)
    moved = migration_args(lab, url=alive[0], destination_node_group=alive[0] + "/core/node-groups/default")
    rerun = run_module("xenon_migration", moved)
    assert not rerun["failed"], rerun["msg"]
    assert rerun["factories"][0]["mode"] == "full" and rerun["documents_moved"] == DOCS, rerun

    parity = run_module("xenon_migration_info", info_args(lab, url=alive[0], destination_node_group=moved["destination_node_group"],
                                                          parity=True))
    assert parity["in_parity"], parity["factories"]
    assert parity["factories"][0]["destination_count"] == DOCS


def counters(url, link):
    entries = httpx.get(url + link + "/stats", timeout=10).json()["entries"]
    return {name: entries.get(name, {}).get("latestValue", 0) for name in ("fetchedDocumentCount", "processedServiceCount")}


FROZEN_DOCS = 4000


@pytest.mark.slow
def test_an_owner_that_froze_resumes_its_orphaned_pass_and_no_rerun_starts_until_that_pass_has_ended(lab_factory):
    """A green task owner frozen mid-pass (a stop-the-world pause, a stalled VM): its peers stop hearing
    it and take the task over without resuming it, so the module reports it ORPHANED. Thawed, the node
    is the task's owner again and its pass goes on where it was, since its requests in flight had not
    expired (Xenon's operation timeout is 60 s) and nothing in Xenon stops a pass. A re-run beside it
    could see documents it wrote overwritten by the older ones that pass read before the pause, so the
    module starts nothing while the old pass's counters move. The pass ends by setting its stage once
    more (FINISHED over the FAILED its peers recorded), having copied everything: the re-run finds
    nothing left and green is in exact parity on every node."""
    lab = lab_factory("xenon", "--blue", 1, "--green", 3)
    # enough pages of one document that the resumed pass still runs when the re-run looks: 200 to 400 pages a
    # second, on machines that differ twofold in speed
    seed(lab, FROZEN_DOCS)
    args = migration_args(lab, query_spec={"resultLimit": 1}, wait_timeout=600)
    proc, output = start_module("xenon_migration", args)
    link = wait_for_progress(lab, 10)
    owner = task_owner(lab, link)
    lab.fault("pause", owner)
    failed = finish_module(proc, output)
    assert failed["failed"] and "last_observed" in failed, failed
    assert failed["last_observed"]["factories"][0]["stage"] == "ORPHANED" and owner in failed["msg"], failed["msg"]
    assert failed["elapsed"] < 60, "a frozen owner must be reported in seconds: %s" % failed["elapsed"]

    lab.fault("unpause", owner)  # returns once the green group agrees on its membership again
    green = lab.description["green"]["nodes"][0]["url"]
    refused = run_module("xenon_migration", migration_args(lab))
    assert refused["failed"] and "running again" in refused["msg"] and owner in refused["msg"], refused["msg"]
    assert "Nothing was started" in refused["msg"] and "restart" in refused["msg"]
    assert httpx.get(green + "/management/migration-tasks", timeout=10).json()["documentLinks"] == [link]

    # the way out: wait until the old pass's counters stand still, then re-run
    deadline = time.monotonic() + 60
    before = counters(green, link)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = counters(green, link)
        if now == before:
            break
        before = now
    else:
        raise AssertionError("the resumed pass still moved after 60 s: %s" % before)
    # the resumed pass ended by setting its stage once more (FINISHED): it copied everything it had read
    assert httpx.get(green + link, timeout=10).json()["taskInfo"]["stage"] == "FINISHED"
    rerun = run_module("xenon_migration", args)
    assert not rerun["failed"], rerun["msg"]
    blue = documents(lab, "blue")
    assert len(blue) == FROZEN_DOCS and rerun["factories"][0]["mode"] == "skipped", "nothing was left to copy: %s" % rerun["factories"]
    parity = run_module("xenon_migration_info", info_args(lab, parity=True))
    assert parity["in_parity"], parity["factories"]
    for node in lab.description["green"]["nodes"]:
        local = httpx.get(node["url"] + "/core/examples?expand", timeout=30).json().get("documents") or {}
        assert sorted(local) == sorted(blue), node["name"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_role_resumes_an_orphaned_copy_or_says_which_green_node_to_use(lab_factory, tmp_path):
    """The whole procedure, its green task owner killed mid-copy. Xenon picks the owner, so either:
    the role talks to another green node, sees the task ORPHANED and runs the pass again by itself
    to the end; or the dead owner is the node the role talks to, and the run stops before any
    window (blue keeps serving) saying that node does not answer and to use one that is up, and
    the re-run through a live green node completes. Both end in exact parity on green."""
    lab = lab_factory("xenon", "--blue", 1, "--green", 3)
    # pages of one document, enough that the copy still runs when its owner is killed: 200 to 400
    # pages a second, on machines that differ twofold in speed
    seed(lab, 1500)
    lab_file = str(tmp_path / "lab.json")
    with open(lab_file, "w") as handle:
        json.dump(lab.description, handle)
    playbook = os.path.join(ROOT, "playbooks", "xenon_lab_upgrade.yml")
    extra = {"xenon_lab_json": lab_file, "xenon_side_by_side_query_spec": {"resultLimit": 1},
             "xenon_side_by_side_report_path": str(tmp_path / "report.json")}
    proc = start_playbook(playbook, extra)
    owner = task_owner(lab, wait_for_progress(lab, 10))
    lab.fault("kill", owner)
    out = proc.communicate(timeout=240)[0]
    used = lab.description["green"]["nodes"][0]
    alive = [n["url"] for n in lab.description["green"]["nodes"] if n["name"] != owner]
    group = alive[0] + "/core/node-groups/default"
    if owner != used["name"]:
        assert proc.returncode == 0, out[-4000:]
        assert "FAILED - RETRYING: [localhost]: Bulk copy" in out, "the orphaned pass was run again: %s" % out[-3000:]
        group = used["url"] + "/core/node-groups/default"
    else:
        assert proc.returncode != 0, out[-3000:]
        assert "the green node at %s does not answer" % used["url"] in out and "point url and destination_node_group" in out, out[-3000:]
        journal = str(tmp_path / "xenon-side-by-side-journal.json")
        if os.path.exists(journal):  # the journal is first written once the bulk copy is done
            with open(journal) as handle:
                assert json.load(handle)["phase"] != "done"
        lb = lab.description["load_balancer"]["url"]
        assert httpx.post(lb + "/core/examples", json={"name": "still-blue"}, timeout=30).headers["x-lab-group"] == "blue"
        resumed = run_playbook(playbook, dict(extra, xenon_side_by_side_query_spec={}, xenon_side_by_side_green_url=alive[0],
                                              xenon_side_by_side_destination_node_group=group))
        assert resumed.returncode == 0, resumed.stdout[-4000:]
    with open(str(tmp_path / "report.json")) as handle:
        report = json.load(handle)
    # the role's own parity check, inside the window, after the transformation
    assert report["in_parity"] and report["switched_to_green"], report
