# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Where an operator blue-green update stands, in one progress line per run of the module.

The action plugin ``emqx_operator_update`` runs the module again and again while the update goes
on; each run hands back ``progress_of`` its last observation (a few numbers, whatever the size of
the cluster's history), and the controller turns it into a line - phase, new revision pods ready,
old pods deleted, connections and sessions left per old pod under evacuation, percent, elapsed
and an ETA that counts down (``UpdateProgress``). The timeline the runs return is joined with
``merge_timeline``, which keeps it as bounded as one run's."""

from __future__ import annotations

import math

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Countdown
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.estimate import initial_delay_waited
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.summary import (
    effective_strategy,
    node_entry,
    node_evacuations,
    true_conditions,
)

# The timeline of one wait keeps at most this many samples (the first one and every other one beyond).
MAX_SAMPLES = 500

PHASES = {
    "pending": "waiting for the operator to take up the change",
    "starting": "starting the new revision's pods",
    "available": "new revision available, old pods next",
    "evacuating": "evacuating old pods",
    "removing": "removing old pods",
    "finishing": "old pods removed, waiting for Ready",
    "done": "update finished",
}
# evacuation state -> what is still ahead of it
AHEAD = {
    "waiting_health_check": ("health_check", "connections", "takeover", "sessions"),
    "evicting_conns": ("connections", "takeover", "sessions"),
    "waiting_takeover": ("takeover", "sessions"),
    "evicting_sessions": ("sessions",),
}


def revision_sets(status):
    """coreNodesStatus and, when there are replicants, replicantNodesStatus."""
    sets = [status.get("coreNodesStatus") or {}]
    replicant = status.get("replicantNodesStatus") or {}
    if replicant.get("updateRevision") or replicant.get("replicas"):
        sets.append(replicant)
    return sets


def old_pod_count(obj):
    """Pods of the current (old) revision, before the update."""
    return sum(int(s.get("currentReplicas") or 0) for s in revision_sets((obj or {}).get("status") or {}))


def _strategy(obj):
    """The effective update strategy; a waitHealthCheck in the spec was accepted by the CRD, so the
    operator is 2.3 or later and sends it (without it EMQX waits its default 60 s either way)."""
    spec_strategy = (obj.get("spec") or {}).get("updateStrategy") or {}
    asked = (spec_strategy.get("evacuationStrategy") or {}).get("waitHealthCheck")
    return effective_strategy(spec_strategy, "2.3" if asked is not None else None)


def _evacuation_seconds(state, connections, sessions, strategy):
    steps = {"health_check": float(strategy["wait_health_check"]),
             "connections": math.ceil(connections / float(strategy["conn_evict_rate"])),
             "takeover": float(strategy["wait_takeover"]),
             "sessions": math.ceil(sessions / float(strategy["sess_evict_rate"]))}
    return sum(steps[step] for step in AHEAD.get(state, ()))


def _pod_seconds(connections, sessions, strategy):
    if sessions <= 0:
        return float(strategy["wait_takeover"])
    return _evacuation_seconds("waiting_health_check", connections, sessions, strategy)


def progress_of(obj, new_revision_seen, finished, old_nodes, old_pods):
    """Where the update stands at ``obj``: ``phase`` (a key of PHASES), new revision pods ready of
    desired, old pods deleted of ``old_pods``, the evacuations with connections and sessions left,
    ``estimate_s`` (seconds left by the update strategy; while the new pods start their start-up is
    not in it - ``lower_bound``) and ``work``, which changes exactly when the work left does."""
    status = obj.get("status") or {}
    sets = revision_sets(status)
    types = true_conditions(status)
    new_total = sum(int(s.get("replicas") or 0) for s in sets)
    new_ready = sum(int(s.get("updateReplicas") or 0) for s in sets) if new_revision_seen else 0
    if new_revision_seen:
        old_left = sum(int(s.get("currentReplicas") or 0) for s in sets if s.get("currentRevision") != s.get("updateRevision"))
    else:
        old_left = old_pods
    evacuations = [{"node": e.get("node"), "state": e.get("state"),
                    "connections": int((e.get("stats") or {}).get("current_connected") or 0),
                    "sessions": int((e.get("stats") or {}).get("current_sessions") or 0)}
                   for e in node_evacuations(status)]
    active = [e for e in evacuations if e["state"] != "prohibiting"]
    if finished:
        phase = "done"
    elif not new_revision_seen:
        phase = "pending"
    elif "Available" not in types:
        phase = "starting"
    elif active:
        phase = "evacuating"
    elif old_left and old_left >= old_pods and not evacuations:
        phase = "available"
    elif old_left:
        phase = "removing"
    else:
        phase = "finishing"
    estimate = 0.0
    if not finished:
        strategy = _strategy(obj)
        evacuating = {e["node"] for e in evacuations}
        estimate = sum(_evacuation_seconds(e["state"], e["connections"], e["sessions"], strategy) for e in active)
        waiting = [node_entry(n, "core") for n in (status.get("coreNodes") or []) + (status.get("replicantNodes") or [])]
        waiting = [n for n in waiting if n["status"] == "running" and n["name"] in old_nodes and n["name"] not in evacuating]
        if phase in ("pending", "starting", "available"):
            # the operator evacuates nothing before initialDelaySeconds have passed since Available
            estimate += initial_delay_waited(strategy)
        waiting = waiting[:max(0, old_left - len(evacuations))]
        estimate += sum(_pod_seconds(n["connections"], n["sessions"], strategy) for n in waiting)
    return {"phase": phase, "new_ready": new_ready, "new_total": new_total, "old_left": old_left, "old_pods": old_pods,
            "deleted": max(0, old_pods - old_left), "evacuations": evacuations, "estimate_s": round(estimate, 1),
            "lower_bound": phase in ("pending", "starting"),
            "work": [phase, new_ready, old_left, [[e["node"], e["state"], e["connections"], e["sessions"]] for e in evacuations]]}


def merge_timeline(timeline, more, max_samples=MAX_SAMPLES):
    """``timeline`` followed by ``more``, thinned like one run's: once longer than ``max_samples``
    the first sample stays and every other one of the rest goes, so the series spans the whole wait."""
    out = list(timeline)
    for point in more:
        out.append(point)
        if len(out) > max_samples:
            out[1:] = out[1::2]
    return out


class UpdateProgress:
    """The controller's side: one line per run of the module, with an ETA that runs down with the
    clock while the work left stays the same, and a percent of the expected duration that has passed
    (never going back)."""

    def __init__(self, where):
        self.where = where
        self.percent = 0.0
        self._eta = Countdown()

    def line(self, progress, elapsed):
        """The progress line for ``progress`` (from ``progress_of``) observed ``elapsed`` seconds into the wait."""
        eta = self._eta(progress["work"], elapsed, progress["estimate_s"])
        if progress["phase"] == "done":
            eta, self.percent = 0.0, 100.0
        elif eta is not None:
            total = elapsed + eta
            self.percent = max(self.percent, min(99.0, 100.0 * elapsed / total if total > 0 else 0.0))
        parts = ["%s update %d%%: %s" % (self.where, int(self.percent), PHASES.get(progress["phase"], progress["phase"])),
                 "new revision pods ready %d/%d" % (progress["new_ready"], progress["new_total"]),
                 "old pods deleted %d/%d" % (progress["deleted"], progress["old_pods"])]
        if progress["evacuations"]:
            parts.append("evacuations (connections/sessions left): " + ", ".join(
                "%s %s %d/%d" % (e["node"], e["state"], e["connections"], e["sessions"]) for e in progress["evacuations"]))
        parts.append("elapsed %.1f s" % elapsed)
        if eta is not None:
            parts.append("ETA %s%.1f s" % (">= " if progress["lower_bound"] else "", eta))
        return "; ".join(parts)
