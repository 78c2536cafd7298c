# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet role: the plan of the waves, the table and the timeline of the report."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.module_utils._fleet.fleet import plan, report_lines, timeline_svg


def fleet_plan(hosts, serial, clusters, soak_seconds=0):
    if not isinstance(clusters, dict):
        raise AnsibleFilterError("fleet_plan: clusters must map each host to {done, predicted_s}, got %s" % type(clusters).__name__)
    try:
        return plan(list(hosts), serial, clusters, soak_seconds)
    except ValueError as exc:
        raise AnsibleFilterError("fleet_plan: the waves %r are not host counts or percentages: %s" % (serial, exc)) from exc


def fleet_report_lines(records):
    return report_lines(list(records))


def fleet_timeline_svg(records, title="Fleet upgrade", notes=()):
    return timeline_svg(list(records), title=title, notes=list(notes))


class FilterModule:
    def filters(self):
        return {
            "fleet_plan": fleet_plan,
            "fleet_report_lines": fleet_report_lines,
            "fleet_timeline_svg": fleet_timeline_svg,
        }
