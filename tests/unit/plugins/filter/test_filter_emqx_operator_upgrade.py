"""The emqx_operator_upgrade role's filters."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.filter.emqx_operator_upgrade import FilterModule, emqx_operator_decision_lines
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
    assert FilterModule().filters() == {"emqx_operator_decision_lines": emqx_operator_decision_lines}
