"""A Xenon migration whose green task owner is cut off the network mid-pass (``--containers
--network``: every node in its own container at its own address, ``labctl fault partition``
taking one off the lab's network while it keeps running), with blue taking writes throughout.

What real Xenon does, and why the lab is that: the peers of a node that stops answering suspect
it, then mark it UNAVAILABLE (the lab's node-group membership, after 5 s of silence; a killed node,
which refuses connections, is dropped at once). Owner selection hashes each selfLink over the
AVAILABLE nodes only, so a peer becomes the task's owner; it holds the replicated state, stamps
itself documentOwner and never resumes the pass (MigrationTaskService has no node-group handling),
exactly as after the owner's death. Requests forwarded to the cut-off owner hang instead of
failing (no reset comes back), so the module reads progress with a short timeout. The cut-off
owner still runs: its requests in flight wait, new ones fail. Healed, it rejoins, and Xenon's
synchronization of replicated services (NodeSelectorSynchronizationService.java) keeps the
highest version of each document and task on every node, so no node comes back believing the
task runs; but nothing stops a pass in flight, which may resume there, write what it read before
the cut, and end by setting the stage once more. Hence the way out the module names: restart the
node that was cut off (task state is not persisted), then re-run. None of this touches blue, which
serves every write through the load balancer while green is split."""
import json
import shutil
import time

import httpx
import pytest

from xenon_lab import wait_group
from xenon_lab.writer import Writer, read_log
from xenontest import documents, finish_module, info_args, migration_args, run_module, seed, start_module

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")]

DOCS = 1000


def progressing_task(green_urls, minimum, timeout=30.0):
    """(selfLink, owner) of the migration task once it has fetched ``minimum`` documents."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = httpx.get(green_urls[0] + "/management/migration-tasks?expand", timeout=5).json().get("documents") or {}
        for link, task in tasks.items():
            entries = httpx.get(green_urls[0] + link + "/stats", timeout=5).json()["entries"]
            if entries.get("fetchedDocumentCount", {}).get("latestValue", 0) >= minimum:
                return link, task["documentOwner"]
        time.sleep(0.02)
    raise AssertionError("no migration task fetched %d documents within %.0fs" % (minimum, timeout))


@pytest.mark.slow
def test_a_task_owner_cut_off_mid_migration_is_reported_promptly_then_healed_restarted_and_the_rerun_completes(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 3, "--containers", "--network")
    green = {n["name"]: n["url"] for n in lab.description["green"]["nodes"]}
    assert len(set(green.values())) == 3 and not any("127.0.0.1" in url for url in green.values()), green
    seed(lab, DOCS)
    writer = Writer(lab.description["load_balancer"]["url"], str(tmp_path / "writer.jsonl"), rate=10, workers=2).start()
    blue = lab.description["blue"]["nodes"][0]["name"]
    try:
        # Pages of one document from a blue node whose answers leave 20 ms late keep the pass going
        # for 20 s at least, however fast the machine: long enough to cut its owner off in the middle.
        lab.fault("delay", blue, "20")
        proc, output = start_module("xenon_migration", migration_args(lab, query_spec={"resultLimit": 1}, wait_timeout=600))
        link, owner = progressing_task(list(green.values()), 10)
        lab.fault("partition", owner)
        cut_at = time.monotonic()
        failed = finish_module(proc, output)
        reported_after = time.monotonic() - cut_at
        lab.fault("delay", blue, "0")
        assert failed["failed"] and "last_observed" in failed, failed
        factory = failed["last_observed"]["factories"][0]
        assert factory["stage"] == "ORPHANED" and 0 < factory["processed"] < DOCS, factory
        assert owner in failed["msg"] and "never resumes" in failed["msg"] and "Re-run" in failed["msg"], failed["msg"]
        # a forward to the cut-off owner hangs (no reset comes back): the module reads with a short timeout
        assert reported_after < 45, "a cut-off owner must be reported in seconds, not at wait_timeout: %.0fs" % reported_after

        status = lab.status()
        assert status["members"][owner] and status["partitioned"] == [owner], "the owner keeps running, cut off"
        peers = [url for name, url in green.items() if name != owner]
        for url in peers:
            stuck = httpx.get(url + link, timeout=10).json()
            assert stuck["taskInfo"]["stage"] == "FAILED" and stuck["documentOwner"] != owner, stuck

        lab.fault("heal", owner)  # returns once the three green nodes agree on their membership again
        for url in green.values():
            # the healed node synchronized: none of the three believes the task still runs (FINISHED once
            # a pass that resumed there has ended)
            assert httpx.get(url + link, timeout=10).json()["taskInfo"]["stage"] in ("FAILED", "FINISHED"), url
    finally:
        writer.stop()
    unused, lost_writes, records = read_log(str(tmp_path / "writer.jsonl"))
    assert records and not lost_writes, "blue served every write while green was split: %s" % lost_writes[:3]
    assert {r["group"] for r in records} == {"blue"}

    # the way out the message names: restart the node that was cut off (its pass may have resumed), then re-run
    assert "restart it before the re-run" in failed["msg"], failed["msg"]
    lab.fault("restart", owner)
    wait_group(list(green.values()), auth=False)
    rerun = run_module("xenon_migration", migration_args(lab))
    assert not rerun["failed"], rerun["msg"]
    blue = documents(lab, "blue")
    # a full pass, or a delta after the resumed pass finished (it copied everything it had read)
    assert rerun["factories"][0]["mode"] in ("full", "delta"), rerun
    parity = run_module("xenon_migration_info", info_args(lab, parity=True))
    assert parity["in_parity"], json.dumps(parity["factories"], indent=1)[:6000]
    for name, url in green.items():  # every node's own index, the restarted one's included
        local = httpx.get(url + "/core/examples?expand", timeout=30).json().get("documents") or {}
        assert sorted(local) == sorted(blue), "%s: %d documents, blue has %d" % (name, len(local), len(blue))
