# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Options that only some EMQX versions accept. EMQX rejects unknown request fields with a 400,
so the modules refuse them up front with a message naming the server version instead."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.version import at_least

# (operation, option) -> minimum version per API line; None means the line does not have it.
MINIMUM = {
    ("evacuation", "wait_health_check"): {"v5": "5.1.0", "v4": None},
    ("rebalance", "conn_evict_rpc_timeout"): {"v5": "5.9.0", "v4": None},
    ("rebalance", "sess_evict_rpc_timeout"): {"v5": "5.9.0", "v4": None},
}

NOTES = {
    ("evacuation", "wait_health_check", "v4"): "EMQX 4.4 documents no wait_health_check for evacuation",
    ("rebalance", "conn_evict_rpc_timeout", "v4"): "RPC timeouts exist only in EMQX 5.9 and later",
    ("rebalance", "sess_evict_rpc_timeout", "v4"): "RPC timeouts exist only in EMQX 5.9 and later",
}


# 4.x takes these durations in whole seconds and only above 0 (validate_pos_int in
# apps/emqx_node_rebalance/src/emqx_node_rebalance_api.erl on the 4.3/4.4 lines, before the app moved to the
# Enterprise tree): 0, which 5.x takes for "no wait", is a 400 there.
V4_POSITIVE_DURATIONS = {"evacuation": ("wait_takeover",), "rebalance": ("wait_takeover", "wait_health_check")}


def version_problems(operation, params, api_version, node_versions, durations=None):
    """Problems for options the involved nodes' versions cannot take.

    :param node_versions: {node name: version string} of every node that will see the request
        (the API node when known, and the node that runs the operation).
    :param durations: the parsed durations in seconds, as the request will carry them.
    """
    problems = []
    if api_version == "v4":
        for option in V4_POSITIVE_DURATIONS.get(operation, ()):
            seconds = (durations or {}).get(option)
            if seconds is not None and int(round(seconds)) < 1:
                problems.append("%s must be at least 1 s on EMQX 4.x, which refuses 0 (\"invalid %s value\"); give 1s for the "
                                "shortest wait" % (option, option))
    for (op, option), minimum in MINIMUM.items():
        if op != operation or params.get(option) is None:
            continue
        need = minimum.get(api_version)
        if need is None:
            problems.append("%s is not accepted by the %s API: %s" % (option, api_version, NOTES[(op, option, api_version)]))
            continue
        for node, version in sorted(node_versions.items()):
            if version and not at_least(version, need):
                problems.append("%s for %s needs EMQX %s or later; %s runs %s" % (option, operation, need, node, version))
    return problems
