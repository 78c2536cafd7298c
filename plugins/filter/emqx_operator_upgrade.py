# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the emqx_operator_upgrade role to present its results."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def emqx_operator_decision_lines(decision):
    """One headline, then one line per check: ``<name> - ok|FAILED - <detail>``."""
    if not isinstance(decision, dict):
        raise AnsibleFilterError("expected an emqx_operator_decision result (a dict), got %s" % type(decision).__name__)
    lines = ["Decision checks passed" if decision.get("passed") else "Decision checks FAILED"]
    for check in decision.get("checks") or []:
        lines.append(" - ".join([str(check.get("name")), "ok" if check.get("passed") else "FAILED", str(check.get("detail"))]))
    return lines


def _decision_lines(decision, headline=None):
    """The decision's lines; its reasons when it has no checks to show (the update or rollback itself
    failed, or the cluster could not be read)."""
    if not isinstance(decision, dict) or "passed" not in decision:
        return ["%s: not part of this run" % (headline or "decision checks")]
    lines = emqx_operator_decision_lines(decision)
    if headline:
        lines[0] = "%s %s" % (headline, "passed" if decision.get("passed") else "FAILED")
    if not decision.get("checks") and decision.get("reasons"):
        lines[0] += ": " + "; ".join(str(reason) for reason in decision["reasons"])
    return lines


def _known(value):
    return value not in (None, "", [], {})


def _versions(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _change(label, before, after):
    """``label before -> after``; ``label now after`` when the value before is not known; None when neither is."""
    if not _known(before) and not _known(after):
        return None
    if not _known(before):
        return "%s now %s" % (label, after)
    return "%s %s -> %s" % (label, before, after if _known(after) else "unknown")


def _changes(*parts):
    return ", ".join(part for part in parts if part)


def _current(revisions):
    return (revisions or {}).get("current") if isinstance(revisions, dict) else None


def _nodes(nodes):
    return ", ".join(str(n) for n in nodes or []) or "none"


def emqx_operator_report_lines(report):
    """What an emqx_operator_upgrade run did, line by line: the outcome; the image, versions and revision
    before and after the update (or the rollback) with how long it took; the decision checks one per
    line; the rollback, if there was one, with its own before and after values and checks."""
    if not isinstance(report, dict):
        raise AnsibleFilterError("expected an emqx_operator_upgrade report (a dict), got %s" % type(report).__name__)
    operator = report.get("operator") or {}
    lines = ["outcome: %s after %s s (%s, operator %s)" % (
        report.get("outcome"), report.get("duration_s"), report.get("resource"), operator.get("version") or "unknown")]
    rollback = report.get("rollback") or {}
    updated_here = report.get("update_s") is not None or _known(report.get("update_error")) or _known(report.get("changed_fields"))
    estimate = report.get("estimate") or {}

    def update_line():
        if _known(report.get("update_error")):
            return "update to %s failed: %s" % (report.get("image_target"), report.get("update_error"))
        took = "update %s s" % report.get("update_s") if report.get("update_s") is not None else "update"
        if estimate.get("total_s") is not None:
            took += " (estimate %s s)" % estimate.get("total_s")
        return "%s, evacuated %s" % (took, _nodes(report.get("evacuated_nodes")))

    if not rollback:
        lines.append(_changes(_change("image", report.get("image_before"), report.get("image_after")),
                              _change("versions", _versions(report.get("versions_before")), _versions(report.get("versions_after"))),
                              _change("revision", _current(report.get("revisions_before")), _current(report.get("revisions_after"))))
                     or "image, versions and revision unknown")
        if updated_here:
            lines.append(update_line())
        else:
            lines.append("no update in this run: the spec already asked for %s" % (report.get("image_after") or report.get("image_target")))
        before, after = report.get("connections_before"), report.get("connections_after")
        if _known(before) or _known(after):
            lines.append("connections %s before, %s after" % (before if _known(before) else "unknown", after if _known(after) else "unknown"))
        lines.extend(_decision_lines(report.get("decision")))
        lines.append("no rollback")
        return lines

    if updated_here:
        # the upgrade of this run failed its decision and was rolled back by itself
        lines.append("upgrade to %s: %s" % (report.get("image_target"), update_line()))
        lines.extend(_decision_lines(report.get("decision")))
    lines.append("rollback to %s (%s): %s" % (
        rollback.get("image_to"), "given" if rollback.get("source") == "given" else "from the journal",
        _changes(_change("image", rollback.get("image_from"), rollback.get("image_after") or report.get("image_after")),
                 _change("versions", _versions(rollback.get("versions_before")),
                         _versions(rollback.get("versions_after") or report.get("versions_after"))),
                 _change("revision", _current(rollback.get("revisions_before")),
                         _current(rollback.get("revisions_after")) or _current(report.get("revisions_after")))) or "nothing known"))
    if rollback.get("new_set"):
        lines.append("the operator started the old template as a new set, revision %s (collision count %s), with empty volumes: "
                     "once an update was Available it does not scale the old StatefulSet back up" % (
                         _current(rollback.get("revisions_after")), rollback.get("collision_count")))
    if _known(rollback.get("error")):
        lines.append("rollback failed: %s" % rollback.get("error"))
    else:
        took = "rollback %s s" % rollback.get("elapsed_s") if rollback.get("elapsed_s") is not None else "rollback"
        lines.append("%s, evacuated %s, stopped evacuations: %s" % (
            took, _nodes(rollback.get("evacuated_nodes")), _nodes(s.get("node") for s in rollback.get("stopped_evacuations") or [])))
    lines.extend(_decision_lines(rollback.get("decision"), headline="Rollback checks"))
    return lines


class FilterModule:
    def filters(self):
        return {
            "emqx_operator_decision_lines": emqx_operator_decision_lines,
            "emqx_operator_report_lines": emqx_operator_report_lines,
        }
