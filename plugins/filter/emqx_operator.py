# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the emqx_operator_upgrade role; the arithmetic lives in module_utils."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.decision import decide
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.estimate import drain_estimate


def emqx_operator_estimate(info, strategy=None, wait_timeout=None, max_reconnect_rate=0):
    return drain_estimate(info["emqx"], strategy or {}, (info.get("operator") or {}).get("version"),
                          wait_timeout=wait_timeout, max_reconnect_rate=int(max_reconnect_rate or 0))


def emqx_operator_decision(info, image, baseline_connections=0, min_fraction=0.9, accepted_hazards=()):
    return decide(info, image, int(baseline_connections or 0), float(min_fraction), list(accepted_hazards or ()))


class FilterModule:
    def filters(self):
        return {
            "emqx_operator_estimate": emqx_operator_estimate,
            "emqx_operator_decision": emqx_operator_decision,
        }
