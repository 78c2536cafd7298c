"""Two Kilda installations upgraded as a fleet from one inventory (one host per installation, each
its own chroot on the shared ensemble): the canary is upgraded; the second fails its decision point
(its functional test rejects the release), is rolled back to blue by the fleet and halts it; after
the cause is cleared a re-run skips the canary and upgrades the second."""
import json
import os
import subprocess

import pytest

from kildatest import BIN, ROOT, ansible_env, zk_client

pytestmark = pytest.mark.timeout(480)

PLAYBOOK = os.path.join(ROOT, "playbooks", "kilda_blue_green_fleet.yml")
FAILING_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks", "functional_test_fails.yml")
NEW = "green-1"


def run(inventory, evars):
    env = ansible_env()
    env.update(ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml")
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), PLAYBOOK, "-e", "@" + str(evars)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=420, env=env, cwd=str(inventory.parent), check=False)


def read(path):
    with open(path) as handle:
        return json.load(handle)


def signals(zk, prefix, colour):
    return {name: zk.get("%s/%s/%s/signal" % (prefix, name, colour))[0].decode()
            for name in ("network", "flowhs") if zk.exists("%s/%s/%s/signal" % (prefix, name, colour))}


@pytest.mark.slow
@pytest.mark.long
def test_canary_upgraded_then_a_failed_decision_rolls_back_halts_and_a_rerun_finishes(ensemble, estate_factory, prefix, tmp_path):
    estates = {name: estate_factory("%s_%s" % (prefix, name)) for name in ("k1", "k2")}
    hosts = {}
    for name, estate in estates.items():
        host = estate.extra_vars(kilda_blue_green_build_version=NEW)
        del host["kilda_blue_green_journal_path"]  # the fleet keeps each installation's journal in its own directory
        hosts[name] = host
    hosts["k2"]["kilda_blue_green_hook_functional_test"] = FAILING_TEST
    inventory = tmp_path / "fleet.json"
    inventory.write_text(json.dumps({"all": {"children": {"kilda_clusters": {"hosts": hosts}}}}))
    fleet_dir = tmp_path / "fleet"
    evars = tmp_path / "vars.json"
    evars.write_text(json.dumps({"fleet_waves": [1, "100%"], "fleet_soak_seconds": 1, "fleet_soak_interval": 0.5,
                                 "fleet_report_dir": str(fleet_dir), "fleet_name": "kilda-east"}))

    zk = zk_client(ensemble.description["hosts"])
    try:
        first = run(inventory, evars)
        assert first.returncode != 0, first.stdout[-4000:]
        assert "wave 1 (canary): k1, about unknown" in first.stdout and "wave 2 (wave): k2, about unknown" in first.stdout, first.stdout[-6000:]
        records = {c["cluster"]: c for c in read(fleet_dir / "fleet-report.json")["clusters"]}
        assert records["k1"]["outcome"] == "upgraded", records
        assert records["k2"]["outcome"] == "rolled back", records
        assert "functional test of green on %s failed" % NEW in records["k2"]["deploy_failure"], records["k2"]
        # k1 serves on green alone; k2 serves on blue again, green's network shut down
        k1, k2 = estates["k1"].prefix, estates["k2"].prefix
        assert signals(zk, k1, "green") == {"network": "START", "flowhs": "START"}
        assert signals(zk, k1, "blue") == {"network": "SHUTDOWN", "flowhs": "SHUTDOWN"}
        assert signals(zk, k2, "blue") == {"network": "START", "flowhs": "START"}
        assert signals(zk, k2, "green")["network"] == "SHUTDOWN"
        assert "rolled_back" in read(fleet_dir / "k2" / "journal.json")
        k1_journal = (fleet_dir / "k1" / "journal.json").read_text()

        # the cause is cleared: k2's functional test is the lab's again
        hosts["k2"]["kilda_blue_green_hook_functional_test"] = hosts["k1"]["kilda_blue_green_hook_functional_test"]
        inventory.write_text(json.dumps({"all": {"children": {"kilda_clusters": {"hosts": hosts}}}}))
        again = run(inventory, evars)
        assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
        assert "(already upgraded, skipped: k1)" in again.stdout, again.stdout[-6000:]
        records = {c["cluster"]: c for c in read(fleet_dir / "fleet-report.json")["clusters"]}
        assert {n: r["outcome"] for n, r in records.items()} == {"k1": "already upgraded", "k2": "upgraded"}, records
        assert (fleet_dir / "k1" / "journal.json").read_text() == k1_journal
        assert signals(zk, k2, "green") == {"network": "START", "flowhs": "START"}
        assert signals(zk, k2, "blue") == {"network": "SHUTDOWN", "flowhs": "SHUTDOWN"}
    finally:
        zk.stop()
        zk.close()
