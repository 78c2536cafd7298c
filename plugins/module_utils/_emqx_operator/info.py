# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Everything a preflight or a decision needs about an operator-managed EMQX, read in one go."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.discovery import (
    crd_versions,
    find_operator,
    rebalances_of,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.hazards import hazards
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.resources import GROUP, Objects
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.summary import resource_summary


def read_info(client, params):
    crds = {"emqxes": crd_versions(client, "EMQX"), "rebalances": crd_versions(client, "Rebalance")}
    operator = find_operator(client, params.get("operator_namespace"), params.get("operator_name"))
    out = {"crds": crds, "operator": operator, "emqx": None, "rebalances": [], "api_version": None}
    summary = None
    if params.get("name"):
        if "v2beta1" not in crds["emqxes"]["served"]:
            # the resource cannot be read in a version this collection knows; crds tells why
            out["hazards"] = hazards(operator, None, [])
            return out
        resource = client.resources.get(api_version="%s/v2beta1" % GROUP, kind="EMQX")
        obj = Objects(resource, params["namespace"]).get(params["name"])
        out["api_version"] = "%s/v2beta1" % GROUP
        if obj is not None:
            summary = resource_summary(obj, operator.get("version"))
            out["emqx"] = summary
        out["rebalances"] = rebalances_of(client, params["namespace"], params["name"])
    out["hazards"] = hazards(operator, summary, out["rebalances"])
    return out
