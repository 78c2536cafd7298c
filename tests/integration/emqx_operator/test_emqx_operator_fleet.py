"""Two EMQX resources, each in a Kubernetes cluster of its own (two k8s labs, reached through each
inventory host's own kubeconfig), upgraded as a fleet through the EMQX Operator: the canary is
upgraded; the second is asked for a mislabelled image, fails its decision point, is rolled back by
the role and halts the fleet; with the right image a re-run skips the canary and upgrades it."""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("kubernetes")
import ansible_run  # noqa: E402  pylint: disable=import-error,wrong-import-position
from kubectl_run import FRESH_STATUS, kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(420), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

OLD, NEW = "emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.10.4"
MISLABELLED = "emqx/emqx-enterprise:5.10.5"  # the tag says 5.10.5, the new nodes run 5.10.4
FAST = {"initial_delay_seconds": 2, "conn_evict_rate": 20, "sess_evict_rate": 20, "wait_takeover": 2, "wait_health_check": 2}
PLAYBOOK = os.path.join(ansible_run.ROOT, "playbooks", "emqx_operator_upgrade_fleet.yml")


def create_ready(lab):
    body = {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"}, "spec": {"image": OLD}}
    kubectl(lab, "apply", "--validate=false", "-f", "-", stdin=json.dumps(body))
    rc, result = ansible_run.run_module("emqx_operator_update", {"kubeconfig": lab.description["kubeconfig"], "name": "emqx-ee",
                                                                 "update_strategy": FAST, "wait_timeout": 30, "poll_interval": 0.5})
    assert rc == 0, result


def image_of(lab):
    return kubectl(lab, "get", "emqx", "emqx-ee", "-o", "jsonpath={.spec.image}")


def run(inventory, evars):
    # no K8S_AUTH_* and no ~/.kube/config: each cluster is reached through its own connection only
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=ansible_run.COLLECTIONS, ANSIBLE_NOCOLOR="1", HOME=str(inventory.parent))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), PLAYBOOK, "-e", "@" + str(evars)]
    return subprocess.run(argv, env=env, timeout=380, text=True, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          cwd=str(inventory.parent))


def read(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.mark.slow
@pytest.mark.long
def test_canary_upgraded_then_a_failed_decision_rolls_back_halts_and_a_rerun_finishes(lab_factory, tmp_path):
    labs = {name: lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1, "--operator-version", "2.3.0", *FRESH_STATUS)
            for name in ("o1", "o2")}
    for lab in labs.values():
        create_ready(lab)
    hosts = {name: {"emqx_operator_upgrade_connection": {"kubeconfig": lab.description["kubeconfig"]}} for name, lab in labs.items()}
    hosts["o2"].update(emqx_operator_upgrade_image=MISLABELLED, emqx_operator_upgrade_rollback_on_failure=True)
    shared = {"emqx_operator_upgrade_name": "emqx-ee", "emqx_operator_upgrade_image": NEW, "emqx_operator_upgrade_update_strategy": FAST,
              "emqx_operator_upgrade_wait_timeout": 120, "emqx_operator_upgrade_stall_timeout": 60, "emqx_operator_upgrade_poll_interval": 0.5,
              "emqx_operator_upgrade_decision_timeout": 3}
    inventory = tmp_path / "fleet.json"

    def write_inventory():
        inventory.write_text(json.dumps({"all": {"children": {"emqx_operator_clusters": {"hosts": hosts, "vars": shared}}}}))

    write_inventory()
    fleet_dir = tmp_path / "fleet"
    evars = tmp_path / "vars.json"
    evars.write_text(json.dumps({"fleet_waves": [1, "100%"], "fleet_soak_seconds": 1, "fleet_soak_interval": 0.5,
                                 "fleet_report_dir": str(fleet_dir), "fleet_name": "operator-west"}))

    first = run(inventory, evars)
    assert first.returncode != 0, first.stdout[-4000:]
    assert "wave 1 (canary): o1" in first.stdout and "wave 2 (wave): o2" in first.stdout, first.stdout[-6000:]
    records = {c["cluster"]: c for c in read(fleet_dir / "fleet-report.json")["clusters"]}
    assert records["o1"]["outcome"] == "upgraded" and records["o1"]["image_after"] == NEW, records["o1"]
    assert records["o2"]["outcome"] == "rolled back", records["o2"]
    assert image_of(labs["o1"]) == NEW and image_of(labs["o2"]) == OLD
    assert read(fleet_dir / "o1" / "journal.json")["phase"] == "upgraded"
    o1_journal = (fleet_dir / "o1" / "journal.json").read_text()

    # the cause is cleared: o2 is asked for the image the canary runs
    hosts["o2"]["emqx_operator_upgrade_image"] = NEW
    write_inventory()
    again = run(inventory, evars)
    assert again.returncode == 0, again.stdout[-6000:]
    assert "(already upgraded, skipped: o1)" in again.stdout, again.stdout[-6000:]
    records = {c["cluster"]: c for c in read(fleet_dir / "fleet-report.json")["clusters"]}
    assert {n: r["outcome"] for n, r in records.items()} == {"o1": "already upgraded", "o2": "upgraded"}, records
    assert (fleet_dir / "o1" / "journal.json").read_text() == o1_journal
    assert image_of(labs["o2"]) == NEW
