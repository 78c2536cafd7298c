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


class FilterModule:
    def filters(self):
        return {
            "emqx_operator_decision_lines": emqx_operator_decision_lines,
        }
