"""The whole procedure (role xenon_side_by_side through playbooks/xenon_lab_upgrade.yml) under
live writes through HAProxy: every acknowledged write is on green byte-equal after the
transformation, no request failed while the window held traffic; and a failure inside the window
rolls back to blue, untouched and serving."""
import json
import os

import httpx
import pytest

from xenon_lab.transform import schema_v2
from xenon_lab.writer import Writer, read_log
from xenontest import ROOT, documents, run_playbook, seed

pytestmark = pytest.mark.timeout(180)
PLAYBOOK = os.path.join(ROOT, "playbooks", "xenon_lab_upgrade.yml")
HERE = os.path.dirname(os.path.abspath(__file__))


def canonical(doc):
    return json.dumps({k: v for k, v in doc.items() if not k.startswith("document")}, sort_keys=True, separators=(",", ":"))


def start_writer(lab, tmp_path):
    log = os.path.join(str(tmp_path), "writer.jsonl")
    return Writer(lab.description["load_balancer"]["url"], log, rate=30, workers=3).start(), log


def lab_json(lab, tmp_path):
    path = os.path.join(str(tmp_path), "lab.json")
    with open(path, "w") as handle:
        json.dump(lab.description, handle)
    return path


def test_upgrade_under_live_writes_loses_nothing_and_fails_nothing(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 2, "--green", 2)
    seed(lab, 400)
    writer, log = start_writer(lab, tmp_path)
    report_path = os.path.join(str(tmp_path), "report.json")
    proc = run_playbook(PLAYBOOK, {"xenon_lab_json": lab_json(lab, tmp_path), "xenon_sbs_report_path": report_path})
    counts = writer.stop()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    last, failed, records = read_log(log)
    assert failed == [], "requests failed: %s" % failed[:3]
    assert counts["acked"] == len(records) > 30
    with open(report_path) as handle:
        report = json.load(handle)
    assert report["in_parity"] and report["switched_to_green"]
    assert {r["group"] for r in records} == {"blue", "green"}, "the writer must have been served by both groups"
    # writes sent early in the window were held by HAProxy (normal latency is milliseconds), then served by green
    held = [r for r in records if report["window_start"] < r["start"] < report["window_end"] and r["end"] - r["start"] > 0.5]
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


def test_failure_in_the_window_rolls_back_to_blue(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 2)
    seed(lab, 100)
    before = documents(lab, "blue")
    writer, log = start_writer(lab, tmp_path)
    proc = run_playbook(PLAYBOOK, {
        "xenon_lab_json": lab_json(lab, tmp_path),
        # the window opens, then a green node dies: the final delta's preflight must refuse to go on
        "xenon_sbs_hook_enter_window": os.path.join(HERE, "hooks", "enter_window_then_kill_green.yml"),
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
