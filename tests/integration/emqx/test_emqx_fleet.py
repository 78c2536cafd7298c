"""A fleet of three EMQX lab clusters upgraded from one inventory (one host per cluster), in waves:
a canary, a second wave that fails its gate and rolls back (the fleet halts before the third wave),
then a re-run, told to finish in one wave after the canary, that skips the cluster already done and
upgrades the other two side by side. Every cluster is under real MQTT load from start to end."""
import contextlib
import json
import threading
import time

import pytest

from emqxtest import cluster, emqx_bluegreen, mqtt_load, node_names  # pylint: disable=import-error

from collection_files import SHOW_CUSTOM_STATS, custom_stats  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(600)

CLUSTERS = ("a", "b", "c")
FAST = {"emqx_blue_green_wait_health_check": 1, "emqx_blue_green_wait_takeover": 1, "emqx_blue_green_soak_seconds": 6,
        "emqx_blue_green_probe_interval": 2, "emqx_blue_green_poll_interval": 1,
        "emqx_blue_green_reconnect_budget": 100, "emqx_blue_green_session_budget": 100}
# what every cluster of the fleet shares (group variables); the rest is each cluster's own
SHARED = ("emqx_blue_green_deploy_green_tasks", "emqx_blue_green_remove_blue_tasks", "emqx_blue_green_remove_green_tasks",
          "emqx_lab_labctl") + tuple(FAST)


def fleet_host(description):
    """One cluster as one inventory host: its nodes as lists, its endpoints and lab workdir."""
    groups = emqx_bluegreen.inventory(description)["all"]["children"]
    nodes = {colour: [{"name": v["emqx_node_name"], "api_url": v["emqx_api_url"], "lb_server": v["emqx_lb_server"]}
                      for v in groups["emqx_%s" % colour]["hosts"].values()] for colour in ("blue", "green")}
    values = emqx_bluegreen.extra_vars(description, "", **FAST)
    host = {k: v for k, v in values.items() if k not in SHARED and k != "emqx_blue_green_report_dir"}
    host.update(emqx_blue_green_blue_nodes=nodes["blue"], emqx_blue_green_green_nodes=nodes["green"])
    return host, {k: values[k] for k in SHARED}


def read(path):
    with open(path) as handle:
        return json.load(handle)


def kill_green_when_soaking(journal, lab, stop):
    """Kill the cluster's green node once its own gate's soak has started (the journal says so)."""
    while not stop.is_set():
        try:
            if read(journal).get("phase") == "soaking":
                lab.fault("kill", node_names(lab.description, "green")[0])
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.long
def test_fleet_canary_halt_on_failed_gate_then_resume(lab_factory, tmp_path, monkeypatch):
    labs = {name: lab_factory("emqx", "--blue", 1, "--green", 1) for name in CLUSTERS}
    hosts, shared = {}, {}
    for name, lab in labs.items():
        hosts[name], shared = fleet_host(lab.description)
    inventory = tmp_path / "fleet.json"
    inventory.write_text(json.dumps({"all": {"children": {"emqx_clusters": {"hosts": hosts, "vars": shared}}}}))
    fleet_dir = tmp_path / "fleet"
    fleet_vars = {"fleet_soak_seconds": 3, "fleet_soak_interval": 1, "fleet_report_dir": str(fleet_dir), "fleet_name": "emqx-east"}
    evars, rerun_vars = tmp_path / "vars.json", tmp_path / "rerun-vars.json"
    evars.write_text(json.dumps(dict(fleet_vars, fleet_waves=[1, 1, "100%"])))
    # after the halt the operator finishes in one wave: the plan is made again from the waves given
    rerun_vars.write_text(json.dumps(dict(fleet_vars, fleet_waves=[1, "100%"])))
    for name, value in SHOW_CUSTOM_STATS.items():
        monkeypatch.setenv(name, value)

    with contextlib.ExitStack() as stack:
        users = {name: stack.enter_context(mqtt_load(lab.description, clients=100, rate=20)) for name, lab in labs.items()}
        for lab in labs.values():
            emqx_bluegreen.wait_for_clients(lab.description, 100)

        # run 1: the canary passes, the second wave's cluster fails its gate and rolls back, the fleet halts
        stop = threading.Event()
        killer = threading.Thread(target=kill_green_when_soaking, args=(fleet_dir / "b" / "journal.json", labs["b"], stop), daemon=True)
        killer.start()
        first = emqx_bluegreen.playbook("emqx_blue_green_fleet.yml", str(inventory), str(evars), cwd=str(tmp_path), timeout=420)
        stop.set()
        killer.join(timeout=5)
        assert first.returncode != 0, first.stdout[-4000:]
        # the plan came first (check mode prints only this; the docs' example runs it)
        assert "wave 1 (canary): a, about" in first.stdout and "wave 3 (wave): c, about" in first.stdout, first.stdout[-4000:]
        assert "whole fleet: 3 clusters in 3 waves, about" in first.stdout
        report = read(fleet_dir / "fleet-report.json")
        outcomes = {c["cluster"]: c["outcome"] for c in report["clusters"]}
        assert report["outcome"] == "halted" and outcomes == {"a": "upgraded", "b": "rolled back", "c": "not started"}, report
        assert "Cluster b rolled back in wave 2" in first.stdout, first.stdout[-4000:]
        assert sorted(cluster(labs["a"].description)["running_nodes"]) == node_names(labs["a"].description, "green")
        # b is back on blue; c was never touched: no journal, blue serving, green never started
        assert sorted(cluster(labs["b"].description)["running_nodes"]) == node_names(labs["b"].description, "blue")
        assert not (fleet_dir / "c" / "journal.json").exists()
        assert sorted(cluster(labs["c"].description)["running_nodes"]) == node_names(labs["c"].description, "blue")
        canary_files = {path: path.stat().st_mtime_ns for path in (fleet_dir / "a").iterdir()}

        # run 2, the fault cleared (the rollback stopped b's green node; the deploy hook starts it again)
        second = emqx_bluegreen.playbook("emqx_blue_green_fleet.yml", str(inventory), str(rerun_vars), cwd=str(tmp_path), timeout=420)
        assert second.returncode == 0, second.stdout[-4000:]
        assert "(already upgraded, skipped: a)" in second.stdout, second.stdout[-4000:]
        assert "wave 2 (wave): b, c, about" in second.stdout, second.stdout[-4000:]
    # the load generators stopped and reported when the block ended

    report = read(fleet_dir / "fleet-report.json")
    records = {c["cluster"]: c for c in report["clusters"]}
    assert report["outcome"] == "done", report
    assert {name: r["outcome"] for name, r in records.items()} == {"a": "already upgraded", "b": "upgraded", "c": "upgraded"}
    assert [r["wave"] for r in (records[n] for n in CLUSTERS)] == [1, 2, 2]
    # the clusters already upgraded were not touched: not a file of theirs was written
    assert {path: path.stat().st_mtime_ns for path in (fleet_dir / "a").iterdir()} == canary_files
    # the second wave's two clusters ran side by side
    b, c = records["b"], records["c"]
    assert b["started"] < c["finished"] and c["started"] < b["finished"], (b, c)
    for name, lab in labs.items():
        assert sorted(cluster(lab.description)["running_nodes"]) == node_names(lab.description, "green"), name
        assert records[name]["losses"] == 0, records[name]
        journal = read(fleet_dir / name / "journal.json")
        assert journal["cluster"] == name and journal["phase"] == "done", journal
    # nothing lost by the clients of any cluster but b, whose green node was killed with sessions on it
    for name in ("a", "c"):
        assert users[name]["sessions_lost"] == 0 and users[name]["messages_lost"] == 0, (name, users[name])
    assert users["b"]["messages_lost"] <= users["b"]["clients"], users["b"]

    # the table, the timeline and the job's artifacts
    for name in CLUSTERS:
        assert any(line.startswith(name + " ") for line in report["lines"]), report["lines"]
    svg = (fleet_dir / "fleet-timeline.svg").read_text()
    assert svg.count("<rect x=") >= len(CLUSTERS) and "emqx-east" in svg
    stats = custom_stats(second.stdout)
    assert stats["fleet"]["emqx-east"]["outcome"] == "done", stats["fleet"]
    assert stats["fleet"]["emqx-east"]["clusters"] == {"a": "already upgraded", "b": "upgraded", "c": "upgraded"}
