"""The emqx_blue_green playbooks end to end against the lab, under real MQTT load, with faults."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from emqxtest import LABS, cluster, emqx_bluegreen, mqtt_load, node_names, run_module  # pylint: disable=import-error
from labcommon import haproxy_runtime  # pylint: disable=import-error

from collection_files import SHOW_CUSTOM_STATS, custom_stats, saved  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(600)

FAST = {"emqx_blue_green_wait_health_check": 2, "emqx_blue_green_wait_takeover": 2, "emqx_blue_green_soak_seconds": 4, "emqx_blue_green_probe_interval": 2,
        "emqx_blue_green_poll_interval": 1, "emqx_blue_green_reconnect_budget": 100, "emqx_blue_green_session_budget": 100}


def inputs(lab, report_dir, **overrides):
    return emqx_bluegreen.write_inputs(lab.description, lab.workdir, report_dir, **dict(FAST, **overrides))


def session_rate_limit(lab):
    """HAProxy's process-wide limit of new sessions a second, straight from the lab's balancer (0: none)."""
    info = haproxy_runtime.command(lab.description["lb"]["runtime_socket"], "show info")
    return int(re.search(r"^SessRateLimit: (\d+)$", info, re.M).group(1))


@pytest.mark.slow
@pytest.mark.long
def test_green_node_killed_during_soak_fails_the_gate_and_rolls_back(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 2, "--green", 2)
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_soak_seconds=16, emqx_blue_green_probe_interval=2)
    green1 = node_names(lab.description, "green")[0]
    with mqtt_load(lab.description, clients=100, rate=30) as users:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import emqx_bluegreen as b; "
             "sys.exit(b.playbook('emqx_blue_green.yml', %r, %r, capture=False).returncode)" % (LABS, inventory, evars)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = []
        for line in proc.stdout:
            output.append(line)
            if "Record phase soaking" in line:
                lab.fault("kill", green1)
        assert proc.wait(timeout=300) != 0
        text = "".join(output)
        assert "green nodes not running (stopped, or cut off from the cluster): %s" % green1 in text, text[-3000:]
        assert "the move was rolled back to blue" in text
        probe = run_module("mqtt_probe", {"host": lab.description["lb"]["mqtt_host"], "port": lab.description["lb"]["mqtt_port"]})[1]
        assert probe["ok"], "service restored through the load balancer: %s" % probe
    info = cluster(lab.description)
    assert sorted(info["running_nodes"]) == sorted(node_names(lab.description, "blue"))
    assert info["evacuations"] == []
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["outcome"] == "rolled back"
    # The drain started its two blue nodes half a second apart, so that their once-a-second batches
    # of evictions take turns (the drain back had only the green node left running).
    starts = [e["evacuations started"] for e in report["events"] if "evacuations started" in e]
    assert len(starts) == 2 and sorted(starts[0]) == sorted(node_names(lab.description, "blue")), report["events"]
    assert sorted(starts[0].values())[0] == 0.0 and 0.45 <= sorted(starts[0].values())[1] < 3, starts
    assert list(starts[1]) == [n for n in node_names(lab.description, "green") if n != green1], starts
    # both drains, to green and back, held the load balancer's new sessions to the budget and put the limit back
    limits = [sorted(e) for e in report["events"] if "lb session limits" in e or "lb session limits put back" in e]
    assert limits == [["lb session limits", "t"], ["lb session limits put back", "t"]] * 2, report["events"]
    assert session_rate_limit(lab) == 0
    # the drain back to blue is timed from its own start, not from the end of the drain to green
    assert report["drain_s"] is not None and 0 < report["drain_s"] < 120, report["drain_s"]
    # the picture saw the clients arrive on green, then back on blue, a second at a time
    arrivals = report["per_second"]["reconnects_per_s"]
    assert report["per_second"]["reconnect_peak"] > 0 and sum(1 for r in arrivals if r["per_s"] > 0) >= 2, arrivals
    # Only clients whose session sat on the killed green node could lose anything.
    assert users["messages_lost"] <= users["clients"], users


@pytest.mark.slow
@pytest.mark.long
def test_playbook_killed_mid_drain_resumes_on_rerun_and_a_run_after_that_changes_nothing(lab_factory, report_dir, monkeypatch):
    """kill -9 of the playbook (and its workers) mid-drain: the next run picks the move up from its
    journal and finishes it under load, with the summary, report files and job artifacts of any run
    that did the move; one more run finds the move done and changes nothing. (An uninterrupted
    upgrade and its idempotence run are the Molecule scenario emqx_blue_green.)"""
    lab = lab_factory("emqx", "--blue", 2, "--green", 2)
    for name, value in SHOW_CUSTOM_STATS.items():
        monkeypatch.setenv(name, value)
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_reconnect_budget=20, emqx_blue_green_session_budget=50)
    with mqtt_load(lab.description, clients=120, rate=30) as users:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import emqx_bluegreen as b; "
             "sys.exit(b.playbook('emqx_blue_green.yml', %r, %r, capture=False).returncode)" % (LABS, inventory, evars)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        for line in proc.stdout:
            if "% drained at" in line:
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
        with open(os.path.join(report_dir, "journal.json")) as handle:
            journal = json.load(handle)
        assert journal["phase"] == "draining blue"
        # The load balancer was holding the reconnects to 0.92 of the budget of 20 a second when the run died,
        # and the journal knows what to put back.
        assert session_rate_limit(lab) == 18 and journal["lb_session_rate_limits"] == {lab.description["lb"]["runtime_socket"]: 0}
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
        assert run.returncode == 0, run.stdout[-4000:]
        assert session_rate_limit(lab) == 0, "the resumed run put the limit back after its own drain"
        assert "% drained at" in run.stdout and "ETA" in run.stdout, "progress with an ETA is shown while draining"
    assert users["sessions_lost"] == 0 and users["messages_lost"] == 0, users
    assert users["connected"] == 120
    info = cluster(lab.description)
    assert sorted(info["running_nodes"]) == sorted(node_names(lab.description, "green"))
    assert info["evacuations"] == []
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["outcome"] == "upgraded" and report["gate"]["passed"] is True
    assert report["sessions_left_on_blue"] == 0
    # the resumed run put back what the killed one left, then held its own drain and put that back too
    limits = [e for e in report["events"] if "lb session limits" in e or "lb session limits put back" in e]
    assert [sorted(e) for e in limits] == [["lb session limits put back", "t"], ["lb session limits", "t"], ["lb session limits put back", "t"]], limits
    assert list(limits[1]["lb session limits"].values()) == [18] and report["plan"]["lb_session_limit"] == 18
    with open(os.path.join(report_dir, "journal.json")) as handle:
        assert json.load(handle)["lb_session_rate_limits"] == {}
    # EMQX went on evacuating while no playbook ran: the resumed run planned what was left on blue then.
    assert sorted(report["plan"]["nodes"]) == sorted(node_names(lab.description, "blue")), report["plan"]
    with open(os.path.join(report_dir, "connections.svg")) as handle:
        svg = handle.read()
    # the run's picture: the cluster once a second for the whole run (the role polls every 2 s while it drains and
    # less often otherwise), four node lines, and the clients arriving per second against the budget below them
    per_second = report["per_second"]
    ts = [p["t"] for p in per_second["samples"]]
    gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
    assert per_second["stopped_by"] == "stop_file" and gaps[len(gaps) // 2] <= 1.2 and gaps[-1] <= 3.0, gaps[-5:]
    # from before the drain (the sampler starts after preflight) to the report
    drain_started = min(e["t"] for e in report["events"] if "drain" in str(e.get("phase")))
    assert ts[0] <= drain_started and ts[-1] >= report["duration_s"] - 10, (ts[0], drain_started, ts[-1], report["duration_s"])
    assert len(ts) > len(report["samples"]), "finer than the role's own observations"
    # (EMQX finished most of the evacuation while no playbook ran: this run may have seen no client arrive)
    assert per_second["reconnect_peak"] is not None and len(per_second["reconnects_per_s"]) == len(ts) - 1
    assert svg.startswith("<svg") and svg.count("<polyline") == 5
    assert "Reconnects per second (budget 20/s, peak %s/s)" % per_second["reconnect_peak"] in svg
    # The summary reads as words: the drain against the plan, the gate (no raw dict), the report of this run.
    stamp = re.sub(r"[-:]", "", report["finished_at"])
    run_report = os.path.join(os.path.realpath(report_dir), "report-%s.json" % stamp)
    assert report["report_file"] == run_report
    assert re.search(r"drain [\d.]+ s vs theoretical minimum [\d.]+ s \([\d.]+x\)", run.stdout), run.stdout[-3000:]
    assert "gate passed: " in run.stdout and "{'passed'" not in run.stdout, run.stdout[-3000:]
    assert "report: %s and connections-%s.svg" % (run_report, stamp) in run.stdout, run.stdout[-3000:]
    upgraded = saved(report_dir)
    assert sorted(upgraded) == ["connections-%s.svg" % stamp, "connections.svg", "journal.json", "report-%s.json" % stamp, "report.json"]
    assert upgraded["report.json"] == upgraded["report-%s.json" % stamp]
    assert json.loads(upgraded["journal.json"])["report_file"] == run_report
    # Running it again finds the move done: nothing changes, not even the report or the journal of the run that did it.
    again = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "already done" in again.stdout
    assert " changed=0 " in again.stdout.split("PLAY RECAP")[-1], again.stdout.split("PLAY RECAP")[-1]
    assert "Already upgraded on %s, report: %s" % (report["finished_at"], run_report) in again.stdout, again.stdout[-3000:]
    assert saved(report_dir) == upgraded
    assert "drain - s" not in again.stdout and "(-x)" not in again.stdout
    # Both runs hand their outcome to the job's artifacts (AWX keeps them after the job's files are gone).
    stats = custom_stats(run.stdout)["emqx_blue_green"]["emqx_blue"]  # one entry per cluster, named after its blue group
    assert stats["outcome"] == "upgraded" and stats["changed"] is True and stats["gate_passed"] is True, stats
    assert stats["report_file"] == run_report and stats["summary"][0].startswith("outcome: upgraded") and stats["sessions_left_on_blue"] == 0, stats
    assert stats["drain_vs_minimum"] == report["drain_vs_minimum"] and stats["theoretical_minimum_s"] == report["plan"]["theoretical_minimum_s"]
    assert custom_stats(again.stdout)["emqx_blue_green"]["emqx_blue"] == {
        "outcome": "already upgraded", "changed": False, "report_file": run_report, "upgraded_at": report["finished_at"],
        "green_nodes": sorted(node_names(lab.description, "green"))}


@pytest.mark.slow
def test_bad_role_input_is_rejected_before_anything_changes(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_strategy="sideways", emqx_blue_green_reconnect_budget="lots")
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert run.returncode != 0
    assert "emqx_blue_green_strategy" in run.stdout and "emqx_blue_green_reconnect_budget" in run.stdout
    time.sleep(0.5)
    assert cluster(lab.description)["running_nodes"] == node_names(lab.description, "blue"), "green must not have been started"


def test_check_mode_prints_the_plan_and_changes_nothing(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 2, "--green", 2)
    inventory, evars = inputs(lab, report_dir)
    before = cluster(lab.description)
    started = time.monotonic()
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars, extra_args=["--check"])
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Check mode: nothing was changed. A run would deploy green (hook), drain for about" in run.stdout, run.stdout[-3000:]
    assert "predicted drain" in run.stdout
    assert took < 60, "check mode took %.0f s" % took
    after = cluster(lab.description)
    assert sorted(after["running_nodes"]) == sorted(before["running_nodes"]) and after["evacuations"] == []
    assert not os.path.exists(os.path.join(report_dir, "report.json"))


def test_a_hook_that_is_not_a_file_is_refused_before_anything_changes(lab_factory, report_dir, tmp_path):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    gone = str(tmp_path / "no-such-hook.yml")
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_remove_blue_tasks=gone)
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert run.returncode != 0
    assert "Refused before anything changed: emqx_blue_green_remove_blue_tasks names %s, which is not a file" % gone in run.stdout, \
        run.stdout[-3000:]
    assert cluster(lab.description)["evacuations"] == []


def test_a_wrong_mqtt_address_is_refused_before_anything_changes(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_mqtt_port=1)
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert run.returncode != 0
    host = lab.description["lb"]["mqtt_host"]
    assert "Refused before anything changed: an MQTT probe to %s:1 (emqx_blue_green_mqtt_host, emqx_blue_green_mqtt_port) failed:" % host \
        in run.stdout, run.stdout[-3000:]
    assert cluster(lab.description)["evacuations"] == []


def test_an_empty_green_group_is_named_as_the_cause(lab_factory, report_dir):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    inventory, evars = inputs(lab, report_dir, emqx_blue_green_green_group="emqx_green_typo")
    run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
    assert run.returncode != 0
    assert "Refused before anything changed: inventory group emqx_green_typo (green) is empty or missing." in run.stdout, run.stdout[-3000:]
    assert "credentials" not in run.stdout.split("Refused before anything changed")[1][:300]


def test_a_journal_relaxes_no_check_it_does_not_speak_for(lab_factory, report_dir):
    """Issue 12: a journal that another, unfinished move left in the report directory (another cluster
    sharing it) is refused and kept as it was; this move's journal left at finalizing excuses only the
    stopped blue nodes it names as drained and being removed - any other may have taken sessions."""
    lab = lab_factory("emqx", "--blue", 2, "--green", 1)
    inventory, evars = inputs(lab, report_dir)
    blue1, blue2 = node_names(lab.description, "blue")
    green = node_names(lab.description, "green")
    journal = os.path.join(report_dir, "journal.json")
    os.makedirs(report_dir, exist_ok=True)

    def run_with(entries):
        with open(journal, "w") as handle:
            json.dump(entries, handle)
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars)
        assert run.returncode != 0, run.stdout[-3000:]
        with open(journal) as handle:
            assert json.load(handle) == entries, "the journal was rewritten"
        return run.stdout

    other = {"phase": "draining blue", "blue": ["emqx@10.0.0.1"], "green": ["emqx@10.0.0.2"]}
    out = run_with(other)
    assert ("journal.json is the journal of another move, blue ['emqx@10.0.0.1'] to green ['emqx@10.0.0.2'], left at phase draining blue. "
            "That move is not finished and needs its journal") in out, out[-3000:]
    assert sorted(cluster(lab.description)["running_nodes"]) == sorted([blue1, blue2]), "green must not have been started"

    lab.fault("stop", blue2)
    out = run_with({"phase": "finalizing", "blue": [blue1, blue2], "green": green, "removing": [blue1]})
    assert "Blue nodes ['%s'] are not running (the journal names only %s as drained and being removed)." % (blue2, blue1) in out, out[-3000:]
    # A journal at finalizing that names no node (written before it recorded them) excuses none.
    out = run_with({"phase": "finalizing", "blue": [blue1, blue2], "green": green})
    assert "Blue nodes ['%s'] are not running. Sessions they held" % blue2 in out, out[-3000:]
    assert cluster(lab.description)["evacuations"] == []
