"""Two Xenon services upgraded as a fleet from one inventory (one host per service): a canary,
then the other, each with its own journal and report; a re-run skips both and copies nothing."""
import json
import os
import subprocess

import pytest

from xenontest import BIN, ROOT, ansible_env, documents, seed

pytestmark = pytest.mark.timeout(300)

PLAYBOOK = os.path.join(ROOT, "playbooks", "xenon_side_by_side_fleet.yml")
HOOKS = os.path.join(ROOT, "playbooks", "hooks")


def fleet_host(lab):
    """One service as one inventory host, as playbooks/xenon_lab_upgrade.yml describes the lab."""
    d = lab.description
    return {
        "xenon_lab_lb": d["load_balancer"],
        "xenon_side_by_side_green_url": d["green"]["nodes"][0]["url"],
        "xenon_side_by_side_source_node_group": d["blue"]["node_group"],
        "xenon_side_by_side_destination_node_group": d["green"]["node_group"],
        "xenon_side_by_side_factories": d["factories"],
        "xenon_side_by_side_transformation_service_link": d["transformation_services"]["schema_v2"],
        "xenon_side_by_side_username": (d.get("auth") or {}).get("username", ""),
        "xenon_side_by_side_password": (d.get("auth") or {}).get("password", ""),
    }


def run(inventory, evars, *args):
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), PLAYBOOK, "-e", "@" + str(evars)] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=ansible_env(), cwd=str(inventory.parent), check=False)


def read(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.mark.slow
def test_two_services_in_waves_then_a_rerun_skips_both(lab_factory, tmp_path):
    labs = {name: lab_factory("xenon", "--blue", 1, "--green", 1) for name in ("x1", "x2")}
    seeded = {name: seed(lab, 60, prefix=name) for name, lab in labs.items()}
    shared = {"xenon_side_by_side_poll_interval": 0.1, "xenon_side_by_side_delta_threshold": 60,
              "xenon_side_by_side_hook_enter_window": os.path.join(HOOKS, "xenon_lab_enter_window.yml"),
              "xenon_side_by_side_hook_switch": os.path.join(HOOKS, "xenon_lab_switch.yml"),
              "xenon_side_by_side_hook_exit_window": os.path.join(HOOKS, "xenon_lab_exit_window.yml"),
              "xenon_side_by_side_hook_rollback": os.path.join(HOOKS, "xenon_lab_rollback.yml")}
    inventory = tmp_path / "fleet.json"
    inventory.write_text(json.dumps({"all": {"children": {"xenon_clusters": {
        "hosts": {name: fleet_host(lab) for name, lab in labs.items()}, "vars": shared}}}}))
    fleet_dir = tmp_path / "fleet"
    evars = tmp_path / "vars.json"
    evars.write_text(json.dumps({"fleet_waves": [1, "100%"], "fleet_soak_seconds": 2, "fleet_soak_interval": 1,
                                 "fleet_report_dir": str(fleet_dir), "fleet_name": "xenon-west"}))

    first = run(inventory, evars)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "wave 1 (canary): x1, about unknown" in first.stdout and "wave 2 (wave): x2, about unknown" in first.stdout, first.stdout[-4000:]
    report = read(fleet_dir / "fleet-report.json")
    records = {c["cluster"]: c for c in report["clusters"]}
    assert report["outcome"] == "done" and {n: r["outcome"] for n, r in records.items()} == {"x1": "upgraded", "x2": "upgraded"}, report
    assert records["x1"]["finished"] <= records["x2"]["started"], "the canary ended before the second wave started"
    for name, lab in labs.items():
        # each service has its own journal and report, and green holds every document blue had
        journal = read(fleet_dir / name / "journal.json")
        assert journal["phase"] == "done" and journal["upgrade"]["source_node_group"] == lab.description["blue"]["node_group"], journal
        assert read(fleet_dir / name / "report.json")["in_parity"] is True
        assert records[name]["losses"] == 0
        assert set(seeded[name]) <= set(documents(lab, "green")), name
    journals = {name: (fleet_dir / name / "journal.json").read_text() for name in labs}

    again = run(inventory, evars)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "(already upgraded, skipped: x1)" in again.stdout and "(already upgraded, skipped: x2)" in again.stdout, again.stdout[-4000:]
    assert {name: (fleet_dir / name / "journal.json").read_text() for name in labs} == journals
    outcomes = {c["cluster"]: c["outcome"] for c in read(fleet_dir / "fleet-report.json")["clusters"]}
    assert outcomes == {"x1": "already upgraded", "x2": "already upgraded"}, outcomes
