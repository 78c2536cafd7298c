"""The emqx_operator_upgrade role's filters."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.filter.emqx_operator_upgrade import (
    FilterModule, emqx_operator_decision_lines, emqx_operator_report_lines)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.decision import decide


def operator_info(version="5.10.4", connections=95, hazards=()):
    return {"emqx": {"image": "emqx/emqx-enterprise:5.10.4", "ready": True, "updated": True,
                     "revisions": {"core": {"current": "r2", "update": "r2"}},
                     "nodes": [{"name": "emqx@core-0", "status": "running", "version": version}],
                     "versions": [version], "evacuations": [], "total_connections": connections},
            "hazards": list(hazards)}


def test_a_passed_decision_reads_line_by_line():
    decision = decide(operator_info(), "emqx/emqx-enterprise:5.10.4", baseline_connections=100, min_fraction=0.9)
    assert emqx_operator_decision_lines(decision) == [
        "Decision checks passed",
        "ready_on_new_revision - ok - Ready True, currentRevision r2, updateRevision r2",
        "image - ok - spec.image emqx/emqx-enterprise:5.10.4 (expected emqx/emqx-enterprise:5.10.4)",
        "nodes_on_new_version - ok - every running node runs 5.10.4",
        "no_evacuation_left - ok - no evacuation listed",
        "connections_recovered - ok - 95 connections on the running nodes, 90 required (0.9 of 100 before the update)",
        "no_hazards - ok - none",
    ]


def test_a_failed_decision_marks_the_failed_checks():
    decision = decide(operator_info(version="5.8.6", connections=10), "emqx/emqx-enterprise:5.10.4", baseline_connections=100)
    lines = emqx_operator_decision_lines(decision)
    assert lines[0] == "Decision checks FAILED"
    assert "nodes_on_new_version - FAILED - nodes on another version than 5.10.4 (the image tag): emqx@core-0 5.8.6" in lines
    assert "connections_recovered - FAILED - 10 connections on the running nodes, 90 required (0.9 of 100 before the update)" in lines
    assert "image - ok - spec.image emqx/emqx-enterprise:5.10.4 (expected emqx/emqx-enterprise:5.10.4)" in lines


def test_a_decision_without_checks_is_its_headline_alone():
    # what the role records when the cluster could not be read, or when the rollback itself failed
    unread = {"passed": False, "checks": [], "reasons": ["the cluster could not be read: timeout"]}
    assert emqx_operator_decision_lines(unread) == ["Decision checks FAILED"]
    assert emqx_operator_decision_lines({"passed": True}) == ["Decision checks passed"]
    assert emqx_operator_decision_lines(decide({"emqx": None}, "x")) == [
        "Decision checks FAILED", "resource - FAILED - the EMQX resource was not found"]


def test_details_that_are_not_text_are_shown_as_text():
    decision = {"passed": False, "checks": [{"name": "x", "passed": 0, "detail": None}, {"name": "y", "passed": 1, "detail": 3}]}
    assert emqx_operator_decision_lines(decision) == ["Decision checks FAILED", "x - FAILED - None", "y - ok - 3"]


def test_not_a_decision():
    with pytest.raises(AnsibleFilterError, match="expected an emqx_operator_decision result"):
        emqx_operator_decision_lines(["passed"])


def test_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {"emqx_operator_decision_lines": emqx_operator_decision_lines,
                                        "emqx_operator_report_lines": emqx_operator_report_lines}


OLD, NEW = "emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.10.4"


def upgrade_report(**overrides):
    """A report as the role writes it after an upgrade that passed its decision."""
    out = {"outcome": "upgraded", "duration_s": 40.2, "resource": "default/emqx-ee", "operator": {"version": "2.3.0"},
           "image_before": OLD, "image_target": NEW, "image_after": NEW, "versions_before": ["5.8.6"], "versions_after": ["5.10.4"],
           "revisions_before": {"current": "r1", "update": "r1"}, "revisions_after": {"current": "r2", "update": "r2"},
           "connections_before": 60, "connections_after": 59, "estimate": {"total_s": 18}, "update_s": 18.11, "update_error": None,
           "changed_fields": ["spec.image"], "evacuated_nodes": ["emqx@b1", "emqx@b2"],
           "decision": decide(operator_info(connections=95), NEW, baseline_connections=100, min_fraction=0.9), "rollback": None}
    out.update(overrides)
    return out


def rollback_record(**overrides):
    out = {"image_from": NEW, "image_to": OLD, "image_after": OLD, "source": "journal", "versions_before": ["5.10.4"],
           "versions_after": ["5.8.6"], "revisions_before": {"current": "r2", "update": "r2"}, "revisions_after": {"current": "r1", "update": "r1"},
           "elapsed_s": 21.5, "evacuated_nodes": ["emqx@g1"], "stopped_evacuations": [{"node": "emqx@g2"}],
           "collision_count": 0, "new_set": False,
           "error": None, "decision": {"passed": True, "checks": [{"name": "image", "passed": True, "detail": "spec.image " + OLD}]}}
    out.update(overrides)
    return out


def test_an_upgrade_reads_before_and_after_and_its_checks_line_by_line():
    lines = emqx_operator_report_lines(upgrade_report())
    assert lines[:4] == [
        "outcome: upgraded after 40.2 s (default/emqx-ee, operator 2.3.0)",
        "image %s -> %s, versions 5.8.6 -> 5.10.4, revision r1 -> r2" % (OLD, NEW),
        "update 18.11 s (estimate 18 s), evacuated emqx@b1, emqx@b2",
        "connections 60 before, 59 after",
    ]
    assert lines[4] == "Decision checks passed" and "no_hazards - ok - none" in lines
    assert lines[-1] == "no rollback"
    assert not any("{" in line for line in lines), "no raw dict: %s" % lines


def test_the_rollback_entry_point_names_the_values_before_and_after_the_rollback():
    # what the rollback entry point reports: no update of its own, the rollback's before and after values
    report = upgrade_report(outcome="rolled back", image_before=NEW, image_after=OLD, versions_before=["5.10.4"], versions_after=["5.8.6"],
                            revisions_before={"current": "r2"}, revisions_after={"current": "r1"}, update_s=None, changed_fields=[],
                            evacuated_nodes=[], estimate={}, decision=rollback_record()["decision"], rollback=rollback_record())
    assert emqx_operator_report_lines(report) == [
        "outcome: rolled back after 40.2 s (default/emqx-ee, operator 2.3.0)",
        "rollback to %s (from the journal): image %s -> %s, versions 5.10.4 -> 5.8.6, revision r2 -> r1" % (OLD, NEW, OLD),
        "rollback 21.5 s, evacuated emqx@g1, stopped evacuations: emqx@g2",
        "Rollback checks passed",
        "image - ok - spec.image " + OLD,
    ]


def test_a_rollback_after_the_update_was_available_says_the_old_template_came_back_as_a_new_set():
    report = upgrade_report(outcome="rolled back", rollback=rollback_record(
        revisions_after={"current": "r3", "update": "r3"}, collision_count=1, new_set=True))
    assert ("the operator started the old template as a new set, revision r3 (collision count 1), with empty volumes: once an "
            "update was Available it does not scale the old StatefulSet back up") in emqx_operator_report_lines(report)


def test_an_upgrade_that_rolled_back_by_itself_shows_both():
    failed = decide(operator_info(version="5.10.4"), "emqx/emqx-enterprise:5.10.5", baseline_connections=100)
    report = upgrade_report(outcome="rolled back", image_target="emqx/emqx-enterprise:5.10.5", image_after=OLD, versions_after=["5.8.6"],
                            decision=failed, rollback=rollback_record(image_from="emqx/emqx-enterprise:5.10.5", source="given",
                                                                      revisions_after={}))
    lines = emqx_operator_report_lines(report)
    assert lines[1] == "upgrade to emqx/emqx-enterprise:5.10.5: update 18.11 s (estimate 18 s), evacuated emqx@b1, emqx@b2"
    assert lines[2] == "Decision checks FAILED"
    rollback = [line for line in lines if line.startswith("rollback to ")]
    # the revision after falls back to the cluster's last read when the update result has none
    assert rollback == ["rollback to %s (given): image emqx/emqx-enterprise:5.10.5 -> %s, versions 5.10.4 -> 5.8.6, revision r2 -> r2"
                        % (OLD, OLD)]


def test_a_failed_rollback_and_a_failed_update_give_their_reasons():
    broken = rollback_record(error="stalled: emqx@b1 evacuating", versions_after=[], image_after=None, revisions_after={},
                             decision={"passed": False, "checks": [], "reasons": ["rollback: stalled: emqx@b1 evacuating"]})
    lines = emqx_operator_report_lines(upgrade_report(outcome="rollback failed", update_s=None, changed_fields=[], rollback=broken,
                                                      image_after=NEW, versions_after=["5.10.4"], revisions_after={"current": "r2"}))
    assert "rollback failed: stalled: emqx@b1 evacuating" in lines
    assert lines[-1] == "Rollback checks FAILED: rollback: stalled: emqx@b1 evacuating"
    assert "image %s -> %s, versions 5.10.4 -> 5.10.4, revision r2 -> r2" % (NEW, NEW) in lines[1]
    update = emqx_operator_report_lines(upgrade_report(outcome="decision failed", update_s=None, update_error="stalled for 60 s",
                                                       decision={"passed": False, "checks": [], "reasons": ["update: stalled for 60 s"]}))
    assert update[2] == "update to %s failed: stalled for 60 s" % NEW
    assert "Decision checks FAILED: update: stalled for 60 s" in update


def test_a_run_that_did_not_update_says_so_and_unknown_values_are_not_placeholders():
    # the finalize entry point: the update was done by an earlier run; a journal of an older release has no versions
    lines = emqx_operator_report_lines(upgrade_report(update_s=None, changed_fields=[], evacuated_nodes=[], versions_before=[],
                                                      revisions_before={}, connections_before=None))
    assert lines[1] == "image %s -> %s, versions now 5.10.4, revision now r2" % (OLD, NEW)
    assert lines[2] == "no update in this run: the spec already asked for %s" % NEW
    assert lines[3] == "connections unknown before, 59 after"
    assert emqx_operator_report_lines(upgrade_report(decision={}))[-2] == "decision checks: not part of this run"


def test_report_lines_need_a_report():
    with pytest.raises(AnsibleFilterError, match="expected an emqx_operator_upgrade report"):
        emqx_operator_report_lines(None)
