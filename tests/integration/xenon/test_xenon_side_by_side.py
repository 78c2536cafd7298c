"""The whole procedure (role xenon_side_by_side through playbooks/xenon_lab_upgrade.yml) under
live writes through HAProxy: every acknowledged write is on green byte-equal after the
transformation, no request failed while the window held traffic; and a failure inside the window
rolls back to blue, untouched and serving."""
import json
import os
import re

import httpx
import pytest

from xenon_lab.transform import schema_v2
from xenon_lab.writer import Writer, read_log
from xenon_lab import haproxy
from xenontest import ROOT, documents, headers, run_playbook, seed

pytestmark = pytest.mark.timeout(180)
PLAYBOOK = os.path.join(ROOT, "playbooks", "xenon_lab_upgrade.yml")
HERE = os.path.dirname(os.path.abspath(__file__))


def canonical(doc):
    return json.dumps({k: v for k, v in doc.items() if not k.startswith("document")}, sort_keys=True, separators=(",", ":"))


def start_writer(lab, tmp_path):
    """15 writes a second: a delta pass of the lab copies about 70 documents a second after a start-up
    of about a second, so on a loaded machine (passes twice as slow) the passes still shrink below the
    lab playbook's threshold of 60; at 30 writes a second they levelled off at 60-70 in CI."""
    log = os.path.join(str(tmp_path), "writer.jsonl")
    return Writer(lab.description["load_balancer"]["url"], log, rate=15, workers=3).start(), log


def lab_json(lab, tmp_path):
    path = os.path.join(str(tmp_path), "lab.json")
    with open(path, "w") as handle:
        json.dump(lab.description, handle)
    return path


def run_reports(directory):
    """The per-run reports (report-<UTC time>.json) in ``directory``."""
    return sorted(name for name in os.listdir(str(directory)) if re.match(r"^report-\d{8}T\d{6}Z\.json$", name))


def changed(proc):
    """changed=N of the play recap."""
    found = re.search(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)", proc.stdout, re.M)
    assert found, proc.stdout[-3000:] + proc.stderr[-2000:]
    return int(found.group(1))


def migration_tasks(lab):
    url = lab.description["green"]["nodes"][0]["url"]
    response = httpx.get(url + "/management/migration-tasks", headers=headers(url, lab), timeout=10)
    response.raise_for_status()
    return sorted(response.json().get("documentLinks") or [])


def served_by(lab, name):
    """The group that serves a new write through the load balancer."""
    lb = lab.description["load_balancer"]["url"]
    response = httpx.post(lb + "/core/examples", json={"name": name}, headers=headers(lb, lab), timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-lab-group"], response.json()["documentSelfLink"]


@pytest.mark.slow
@pytest.mark.timeout(300)  # the upgrade under writes, then a run that finds it done
def test_upgrade_under_live_writes_loses_nothing_and_fails_nothing_then_a_rerun_changes_nothing(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 2, "--green", 2)
    seed(lab, 400)
    writer, log = start_writer(lab, tmp_path)
    report_path = os.path.join(str(tmp_path), "report.json")
    extra = {"xenon_lab_json": lab_json(lab, tmp_path), "xenon_side_by_side_report_path": report_path}
    proc = run_playbook(PLAYBOOK, extra)
    counts = writer.stop()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    last, failed, records = read_log(log)
    assert failed == [], "requests failed: %s" % failed[:3]
    assert counts["acked"] == len(records) > 30
    with open(report_path) as handle:
        report = json.load(handle)
    assert report["in_parity"] and report["switched_to_green"]
    assert {r["group"] for r in records} == {"blue", "green"}, "the writer must have been served by both groups"
    # Once the enter hook returned (HAProxy holds new requests and blue finished those in flight),
    # blue served nothing: the final delta saw every write blue acknowledged.
    late_on_blue = [r for r in records if r["group"] == "blue" and r["end"] > report["window_held_from"]]
    assert not late_on_blue, late_on_blue[:3]
    # Writes sent in the window were held by HAProxy (normal latency is milliseconds), then served by green. A
    # write that started while the hook ran may have reached blue before the hold, slowly on a loaded machine:
    # it ended before the hook returned, so it is not one of these.
    held = [r for r in records if report["window_start"] < r["start"] < report["window_end"]
            and r["end"] > report["window_held_from"] and r["end"] - r["start"] > 0.5]
    assert held, "no write was held during the window (window %.2fs)" % report["window_seconds"]
    for record in held:
        assert record["ok"] and record["group"] == "green", record

    green = documents(lab, "green")
    for link, entry in last.items():
        assert link in green, "acknowledged write lost: %s" % link
        expected = schema_v2(entry["doc"]) if entry["group"] == "blue" else entry["doc"]
        assert canonical(green[link]) == canonical(expected), link
    blue = documents(lab, "blue")
    assert set(blue) <= set(green)
    rerun_after_success_changes_nothing_and_says_when_it_was_done(lab, tmp_path, proc, extra)


def rerun_after_success_changes_nothing_and_says_when_it_was_done(lab, tmp_path, first, extra):
    assert "Side-by-side upgrade done" in first.stdout and "Next: keep blue" in first.stdout, first.stdout[-3000:]
    tasks = migration_tasks(lab)
    group, link = served_by(lab, "written-to-green")
    assert group == "green"
    # the run keeps its own report, named after the time it finished; report.json is a copy of it
    kept = run_reports(tmp_path)
    assert len(kept) == 1, kept
    run_report = os.path.join(str(tmp_path), kept[0])
    with open(run_report) as handle:
        first_report = handle.read()
    with open(extra["xenon_side_by_side_report_path"]) as handle:
        assert handle.read() == first_report
    done_at = json.loads(first_report)["finished_at"]
    assert kept[0] == "report-%s.json" % re.sub(r"[-:]", "", done_at), (kept, done_at)

    again = run_playbook(PLAYBOOK, extra)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed(again) == 0, again.stdout[-4000:]
    # the re-run names the run that did the upgrade and leaves its report alone
    assert "Already upgraded on %s, report: %s" % (done_at, run_report) in again.stdout, again.stdout[-3000:]
    assert run_reports(tmp_path) == kept
    for path in (run_report, extra["xenon_side_by_side_report_path"]):
        with open(path) as handle:
            assert handle.read() == first_report, path
    # nothing was copied again, the window stayed open and green still serves what it accepted
    assert migration_tasks(lab) == tasks
    assert haproxy.show(lab.description["load_balancer"]["socket"])["window"] == "open"
    assert served_by(lab, "after-rerun")[0] == "green"
    assert link in documents(lab, "green")


@pytest.mark.slow
def test_failure_in_the_window_rolls_back_to_blue(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 2)
    seed(lab, 100)
    before = documents(lab, "blue")
    writer, log = start_writer(lab, tmp_path)
    proc = run_playbook(PLAYBOOK, {
        "xenon_lab_json": lab_json(lab, tmp_path),
        # the window opens, then a green node dies: the final delta's preflight must refuse to go on
        "xenon_side_by_side_hook_enter_window": os.path.join(HERE, "hooks", "enter_window_then_kill_green.yml"),
        "xenon_lab_workdir": lab.workdir, "xenon_lab_labctl": os.path.join(ROOT, "tests", "labs", "labctl")})
    writer.stop()
    assert proc.returncode != 0
    assert "rolled back: blue is untouched and serving" in proc.stdout, proc.stdout[-3000:]
    assert "quorum" in proc.stdout

    last, failed, records = read_log(log)
    assert failed == [], failed[:3]
    assert {r["group"] for r in records} == {"blue"}
    after = documents(lab, "blue")
    for link, doc in before.items():
        if link not in last:
            assert after[link] == doc, "blue changed a document nobody wrote: %s" % link
    lb = lab.description["load_balancer"]["url"]
    response = httpx.post(lb + "/core/examples", json={"name": "after-rollback"}, timeout=10)
    assert response.status_code == 200 and response.headers["x-lab-group"] == "blue"


@pytest.mark.slow
def test_failure_after_the_release_to_green_refuses_the_rollback_and_a_rerun_completes(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1)
    seed(lab, 50)
    extra = {"xenon_lab_json": lab_json(lab, tmp_path)}
    failed = run_playbook(PLAYBOOK, dict(extra, xenon_side_by_side_hook_exit_window=os.path.join(HERE, "hooks", "exit_window_then_fail.yml")))
    assert failed.returncode != 0
    assert "Rollback refused" in failed.stdout and "would lose" in failed.stdout, failed.stdout[-3000:]
    # green serves: pointing the load balancer back at blue would have lost this write
    group, link = served_by(lab, "accepted-by-green")
    assert group == "green"
    tasks = migration_tasks(lab)

    resumed = run_playbook(PLAYBOOK, extra)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-2000:]
    assert "resumed after the switch" in resumed.stdout, resumed.stdout[-3000:]
    assert migration_tasks(lab) == tasks  # neither copied nor switched again
    assert served_by(lab, "after-resume")[0] == "green" and link in documents(lab, "green")
    assert changed(run_playbook(PLAYBOOK, extra)) == 0


# (check mode of the role is test_docs_xenon: the README, the runbook and the role README each plan against the lab)
def test_a_missing_hook_is_refused_before_anything_is_copied(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1)
    seed(lab, 5)
    base = {"xenon_lab_json": lab_json(lab, tmp_path), "xenon_side_by_side_journal_path": str(tmp_path / "journal.json")}
    gone = str(tmp_path / "no-such-hook.yml")
    proc = run_playbook(PLAYBOOK, dict(base, xenon_side_by_side_hook_switch=gone))
    assert proc.returncode != 0
    assert "Refused before anything was copied: xenon_side_by_side_hook_switch names %s, which is not a file" % gone in proc.stdout, \
        proc.stdout[-3000:]
    assert migration_tasks(lab) == [] and not os.path.exists(base["xenon_side_by_side_journal_path"])
