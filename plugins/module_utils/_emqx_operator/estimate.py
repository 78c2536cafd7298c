# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""How long the operator will take to drain the old pods, before it starts.

The operator evacuates one old pod at a time (reference 5.5): EMQX first waits
``wait_health_check`` (60 s on operator 2.2, not configurable there - pitfall 19), then
disconnects ``connEvictRate`` clients per second, waits ``waitTakeover``, and migrates what is
left of the sessions at ``sessEvictRate``. A pod without sessions is only waited for
(``waitTakeover``). The rates are per pod, and only one pod drains at a time, so
``connEvictRate`` is also the reconnect rate the new nodes see."""

from __future__ import annotations

import math

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.summary import effective_strategy


def initial_delay_waited(strategy):
    """Seconds from Available to the first evacuation: the operator compares the whole seconds since
    the Available condition's lastTransitionTime, itself kept to the second, and waits until they
    are more than initialDelaySeconds (checkInitialDelaySecondsReady in controllers/apps/v2beta1/util.go),
    so up to one second longer than the setting."""
    return float(strategy["initial_delay_seconds"]) + 1.0


def pod_seconds(connections, sessions, strategy):
    if sessions <= 0:
        return float(strategy["wait_takeover"])
    return (strategy["wait_health_check"] + math.ceil(connections / float(strategy["conn_evict_rate"]))
            + strategy["wait_takeover"] + math.ceil(sessions / float(strategy["sess_evict_rate"])))


def drain_estimate(summary, strategy_overrides=None, operator_version=None, wait_timeout=None, max_reconnect_rate=0):
    """Per-pod and total drain time for the running nodes of ``summary`` (emqx_operator_info's
    ``emqx``) under the update strategy the update will set (``strategy_overrides`` in the option
    names of emqx_operator_update, on top of the resource's own)."""
    spec = _strategy_spec(summary, strategy_overrides or {})
    strategy = effective_strategy(spec, operator_version)
    running = [n for n in summary["nodes"] if n["status"] == "running"]
    pods = [{"node": n["name"], "connections": n["connections"], "sessions": n["sessions"],
             "seconds": pod_seconds(n["connections"], n["sessions"], strategy)} for n in running]
    total = initial_delay_waited(strategy) + sum(p["seconds"] for p in pods)
    out = {"strategy": strategy, "old_pods": len(pods), "pods": pods,
           "per_pod_max_s": max([p["seconds"] for p in pods] or [0]), "total_s": total,
           "connections": sum(p["connections"] for p in pods), "sessions": sum(p["sessions"] for p in pods),
           "reconnect_rate": strategy["conn_evict_rate"], "too_slow": None, "too_fast": None}
    if wait_timeout is not None and total > float(wait_timeout):
        out["too_slow"] = (
            "draining %d old pods (%d connections, %d sessions) takes about %d s at connEvictRate %d, sessEvictRate %d, "
            "waitTakeover %d s and %d s of EMQX health-check wait per pod%s - more than the wait timeout of %d s; raise "
            "the rates or the timeout" % (
                len(pods), out["connections"], out["sessions"], total, strategy["conn_evict_rate"],
                strategy["sess_evict_rate"], strategy["wait_takeover"], strategy["wait_health_check"],
                "" if strategy["wait_health_check_configurable"] else " (fixed on operator 2.2)", int(wait_timeout)))
    if max_reconnect_rate and strategy["conn_evict_rate"] > int(max_reconnect_rate):
        out["too_fast"] = (
            "connEvictRate %d lets %d clients per second reconnect to the new nodes, more than the %d the cluster can "
            "absorb (max reconnect rate); lower conn_evict_rate" % (
                strategy["conn_evict_rate"], strategy["conn_evict_rate"], int(max_reconnect_rate)))
    return out


def _strategy_spec(summary, overrides):
    """The updateStrategy spec the update leaves behind, from the resource's and the overrides."""
    current = dict(summary.get("update_strategy_set") or {})
    current.update({k: v for k, v in overrides.items() if v is not None})
    spec = {"evacuationStrategy": {}}
    for option, field in (("conn_evict_rate", "connEvictRate"), ("sess_evict_rate", "sessEvictRate"),
                          ("wait_takeover", "waitTakeover"), ("wait_health_check", "waitHealthCheck")):
        if current.get(option) is not None:
            spec["evacuationStrategy"][field] = current[option]
    if current.get("initial_delay_seconds") is not None:
        spec["initialDelaySeconds"] = current["initial_delay_seconds"]
    return spec
