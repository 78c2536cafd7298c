# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the EMQX blue-green roles; the arithmetic lives in module_utils."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.bluegreen import drain_progress, eviction_rate, plan, sample, timeline_append
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.report import connections_svg


def emqx_plan(info, drain_nodes, budget, session_budget, wait_health_check, wait_takeover, strategy="parallel", margin=0.0,
              lb_limit=False):
    return plan(info, drain_nodes, int(budget), int(session_budget), wait_health_check, wait_takeover, strategy, float(margin),
                boolean(lb_limit, strict=True))


def emqx_eviction_rate(budget, margin):
    return eviction_rate(int(budget), float(margin))


def emqx_drain_progress(info, drain_nodes, budget, session_budget, wait_takeover):
    return drain_progress(info, drain_nodes, int(budget), int(session_budget), wait_takeover)


def emqx_sample(info, t):
    return sample(info, t)


def emqx_timeline_append(samples, point):
    return timeline_append(samples, point)


def emqx_connections_svg(samples, colours=None, title="Connections per node", notes=(), rates=None, budget=None):
    return connections_svg(samples, colours=colours, title=title, notes=notes, rates=rates, budget=budget)


class FilterModule:
    def filters(self):
        return {
            "emqx_plan": emqx_plan,
            "emqx_eviction_rate": emqx_eviction_rate,
            "emqx_drain_progress": emqx_drain_progress,
            "emqx_sample": emqx_sample,
            "emqx_timeline_append": emqx_timeline_append,
            "emqx_connections_svg": emqx_connections_svg,
        }
