# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Node-group health as MigrationTaskService checks it: enough AVAILABLE nodes for the quorum,
and every available node reporting the same membershipUpdateTimeMicros (converged)."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import base_of, path_of


def summarize(reference, group):
    """Facts about one NodeGroupState document (no network)."""
    nodes = group.get("nodes") or {}
    available = sorted(n for n, s in nodes.items() if s.get("status") == "AVAILABLE"
                       and "OBSERVER" not in (s.get("options") or []))
    unavailable = sorted(n for n in nodes if n not in available)
    quorum = max([int(s.get("membershipQuorum") or 1) for s in nodes.values()] or [1])
    return {"reference": reference, "nodes": {n: s.get("status") for n, s in sorted(nodes.items())},
            "available": available, "unavailable": unavailable, "quorum": quorum,
            "has_quorum": len(available) >= quorum,
            "membership_update_time_micros": group.get("membershipUpdateTimeMicros"),
            "node_urls": sorted(base_of(nodes[n]["groupReference"]) for n in available if nodes[n].get("groupReference"))}


def inspect(connection, reference):
    """GET the group, then every available node's own view; return the summary and problems."""
    group = connection.client(reference).get(path_of(reference)).data or {}
    summary = summarize(reference, group)
    problems = []
    if not summary["has_quorum"]:
        problems.append("node group %s has %d AVAILABLE node(s) (%s), below its quorum of %d; unavailable: %s" % (
            reference, len(summary["available"]), ", ".join(summary["available"]) or "none", summary["quorum"],
            ", ".join("%s=%s" % (n, summary["nodes"][n]) for n in summary["unavailable"]) or "none"))
    times = {}
    nodes = group.get("nodes") or {}
    # as Xenon's convergence check (NodeGroupUtils.checkConvergence): each node is asked at the
    # groupReference it advertises, which need not have the path of the reference we were given
    for url in sorted(nodes[n]["groupReference"] for n in summary["available"] if nodes[n].get("groupReference")):
        try:
            view = connection.client(url).get(path_of(url)).data or {}
        except ApiError as exc:
            problems.append("node %s of group %s does not answer: %s" % (url, reference, exc.msg))
            continue
        times[base_of(url)] = view.get("membershipUpdateTimeMicros")
    if len(set(times.values())) > 1:
        problems.append("node group %s has not converged: membershipUpdateTimeMicros differ (%s)" % (
            reference, ", ".join("%s=%s" % kv for kv in sorted(times.items()))))
    summary["converged"] = len(set(times.values())) <= 1
    summary["problems"] = problems
    return summary
