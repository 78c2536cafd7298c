# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""What an ``EMQX`` resource says about itself, in one flat summary: image, revisions, conditions,
nodes (connected clients and sessions under the names emqx_cluster_info uses), evacuations, and
the update strategy with the operator's defaults applied."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.version import at_least

DEFAULT_DOMAIN = "cluster.local"
# struct default of v2beta1 updateStrategy (reference 5.2)
STRATEGY_DEFAULTS = {"type": "Recreate", "initialDelaySeconds": 10,
                     "evacuationStrategy": {"waitTakeover": 10, "connEvictRate": 1000, "sessEvictRate": 1000}}
# EMQX's own default; op-2.2 never sends wait_health_check, so this is what every evacuated pod waits
EMQX_WAIT_HEALTH_CHECK = 60
# first operator line that sends waitHealthCheck to EMQX
WAIT_HEALTH_CHECK_SINCE = "2.3"


def effective_strategy(spec_strategy, operator_version=None):
    """spec.updateStrategy with defaults, in the option names of emqx_operator_update.

    ``wait_health_check`` is what EMQX will wait: 60 s on operator 2.2 whatever the spec says
    (pitfall 19); an unknown operator version counts as 2.2, the safe side for time budgets."""
    spec_strategy = spec_strategy or {}
    evacuation = dict(STRATEGY_DEFAULTS["evacuationStrategy"], **(spec_strategy.get("evacuationStrategy") or {}))
    configurable = bool(operator_version) and at_least(operator_version, WAIT_HEALTH_CHECK_SINCE)
    asked = (spec_strategy.get("evacuationStrategy") or {}).get("waitHealthCheck")
    out = {
        "type": spec_strategy.get("type") or STRATEGY_DEFAULTS["type"],
        "initial_delay_seconds": _int(spec_strategy.get("initialDelaySeconds"), STRATEGY_DEFAULTS["initialDelaySeconds"]),
        "conn_evict_rate": _int(evacuation.get("connEvictRate"), 1000),
        "sess_evict_rate": _int(evacuation.get("sessEvictRate"), 1000),
        "wait_takeover": _int(evacuation.get("waitTakeover"), 10),
        "wait_health_check": _int(asked, EMQX_WAIT_HEALTH_CHECK) if configurable else EMQX_WAIT_HEALTH_CHECK,
        "wait_health_check_configurable": configurable,
    }
    if asked is not None and not configurable:
        out["wait_health_check_ignored"] = asked
    return out


def strategy_as_set(spec_strategy):
    """Only the fields the spec sets, in the option names of emqx_operator_update (for a revert)."""
    spec_strategy = spec_strategy or {}
    evacuation = spec_strategy.get("evacuationStrategy") or {}
    out = {}
    for option, value in (("initial_delay_seconds", spec_strategy.get("initialDelaySeconds")),
                          ("conn_evict_rate", evacuation.get("connEvictRate")),
                          ("sess_evict_rate", evacuation.get("sessEvictRate")),
                          ("wait_takeover", evacuation.get("waitTakeover")),
                          ("wait_health_check", evacuation.get("waitHealthCheck"))):
        if value is not None:
            out[option] = value
    return out


def _int(value, default):
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def true_conditions(status):
    return [c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"]


def _revision(entry):
    if not entry:
        return None
    return {"current": entry.get("currentRevision"), "update": entry.get("updateRevision"),
            "replicas": entry.get("replicas"), "ready_replicas": entry.get("readyReplicas"),
            "current_replicas": entry.get("currentReplicas"), "update_replicas": entry.get("updateReplicas")}


# EMQX reports connected clients (live_connections) from 5.1 on; before that only sessions.
LIVE_CONNECTIONS_SINCE = "5.1"


def node_evacuations(status):
    """status.nodeEvacuationsStatus. Operators 2.2.0 to 2.2.25 publish it as nodEvacuationsStatus
    (the JSON name in apis/apps/v2beta1/status.go until 2.2.26 corrected it)."""
    found = status.get("nodeEvacuationsStatus")
    if found is None:
        found = status.get("nodEvacuationsStatus")
    return found or []


def node_entry(raw, role):
    """A status.coreNodes/replicantNodes entry: EMQX calls sessions 'connections' and connected
    clients 'live_connections' (reference 1.7); here they are 'sessions' and 'connections'. The
    operator leaves out fields that are zero (omitempty in apis/apps/v2beta1/status.go), so a
    missing live_connections on EMQX 5.1 or later means no connected client; before 5.1 EMQX has no
    such figure and the sessions stand in for it."""
    sessions = _int(raw.get("connections"), 0)
    live = raw.get("live_connections")
    if live is not None:
        connections = _int(live, sessions)
    else:
        connections = 0 if at_least(raw.get("version"), LIVE_CONNECTIONS_SINCE) else sessions
    return {"name": raw.get("node"), "role": raw.get("role") or role, "status": str(raw.get("node_status") or "").lower(),
            "version": raw.get("version"), "edition": raw.get("edition"),
            "connections": connections, "sessions": sessions}


def evacuation_entry(raw):
    stats = raw.get("stats") or {}
    return {"node": raw.get("node"), "state": raw.get("state"),
            "connections_left": _int(stats.get("current_connected"), 0), "sessions_left": _int(stats.get("current_sessions"), 0),
            "initial_connections": _int(stats.get("initial_connected"), 0), "initial_sessions": _int(stats.get("initial_sessions"), 0),
            "connection_eviction_rate": raw.get("connection_eviction_rate"), "session_eviction_rate": raw.get("session_eviction_rate")}


def resource_summary(obj, operator_version=None):
    """The summary of an EMQX resource (a plain dict as the API returns it)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    core = _revision(status.get("coreNodesStatus"))
    replicant = _revision(status.get("replicantNodesStatus"))
    types = true_conditions(status)
    updated = bool(core) and core["current"] is not None and core["current"] == core["update"]
    if replicant and replicant.get("update"):
        updated = updated and replicant["current"] == replicant["update"]
    nodes = [node_entry(n, "core") for n in status.get("coreNodes") or []]
    nodes += [node_entry(n, "replicant") for n in status.get("replicantNodes") or []]
    running = [n for n in nodes if n["status"] == "running"]
    return {
        "name": meta.get("name"), "namespace": meta.get("namespace"), "generation": meta.get("generation"),
        "image": spec.get("image"),
        "cluster_domain": spec.get("clusterDomain") or DEFAULT_DOMAIN,
        "conditions": [{"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason"),
                        "message": c.get("message"), "last_transition_time": c.get("lastTransitionTime")}
                       for c in status.get("conditions") or []],
        "true_conditions": types,
        "ready": "Ready" in types, "available": "Available" in types, "updated": updated,
        "revisions": {"core": core, "replicant": replicant},
        "nodes": nodes,
        "running_nodes": [n["name"] for n in running],
        "stopped_nodes": [n["name"] for n in nodes if n["status"] != "running"],
        "versions": sorted({n["version"] for n in running if n["version"]}),
        "editions": sorted({n["edition"] for n in running if n["edition"]}),
        "total_connections": sum(n["connections"] for n in running),
        "total_sessions": sum(n["sessions"] for n in running),
        "evacuations": [evacuation_entry(e) for e in node_evacuations(status)],
        "update_strategy": effective_strategy(spec.get("updateStrategy"), operator_version),
        "update_strategy_set": strategy_as_set(spec.get("updateStrategy")),
    }
