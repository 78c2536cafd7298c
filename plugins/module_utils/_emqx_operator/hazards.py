# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Known ways an operator-driven update goes wrong (reference section 6), found in what
emqx_operator_info read. Each hazard has a stable ``id`` the role decides on."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.version import at_least

MIN_OPERATOR = "2.2.29"


def _hazard(hazard_id, pitfall, message):
    return {"id": hazard_id, "pitfall": pitfall, "message": message}


def operator_hazards(operator):
    if not operator or not operator.get("found"):
        return [_hazard("operator_not_found", None,
                        "no EMQX Operator Deployment was found (%s); its version cannot be checked - name it with "
                        "operator_namespace/operator_name" % ((operator or {}).get("reason") or "none matched"))]
    version = operator.get("version")
    if not version:
        return [_hazard("operator_version_unknown", 20,
                        "the EMQX Operator's version cannot be read from its image %r" % operator.get("image"))]
    if not at_least(version, MIN_OPERATOR):
        return [_hazard("operator_too_old", 20,
                        "EMQX Operator %s is older than %s: old StatefulSets scale up in a loop (#1105) or fail to "
                        "scale below 0 (#1050, #1130) during blue-green updates" % (version, MIN_OPERATOR))]
    return []


def resource_hazards(summary):
    out = []
    if summary["cluster_domain"] != "cluster.local":
        out.append(_hazard("custom_cluster_domain", 18,
                           "clusterDomain is %r: operator 2.2 looks old core nodes up under svc.cluster.local, gets 404 "
                           "and deletes them without evacuation, dropping their sessions" % summary["cluster_domain"]))
    other = [e for e in summary["editions"] if e != "Enterprise"]
    if other:
        out.append(_hazard("not_enterprise", None,
                           "running nodes are %s, not Enterprise: the operator cannot evacuate them, so every client is "
                           "disconnected when its pod is deleted and sessions are dropped" % ", ".join(other)))
    if summary["stopped_nodes"]:
        out.append(_hazard("stopped_nodes", 16,
                           "nodes %s are listed as stopped; EMQX keeps them until cluster.autoclean (24 h by default) - count "
                           "running nodes only" % ", ".join(summary["stopped_nodes"])))
    if summary["evacuations"]:
        out.append(_hazard("evacuation_running", 17,
                           "evacuations are listed (%s); the operator takes the first listed evacuation for its own, and a "
                           "running one blocks every scale-down" % ", ".join(
                               "%s %s" % (e["node"], e["state"]) for e in summary["evacuations"])))
    return out


def rebalance_hazards(rebalances):
    processing = [r for r in rebalances or [] if r.get("phase") == "Processing"]
    if not processing:
        return []
    return [_hazard("rebalance_processing", 10,
                    "Rebalance %s is Processing: its donors cannot be evacuated at the same time (eviction_agent_busy)"
                    % ", ".join(r["name"] for r in processing))]


def hazards(operator, summary, rebalances):
    out = operator_hazards(operator)
    if summary is not None:
        out += resource_hazards(summary)
    out += rebalance_hazards(rebalances)
    return out
