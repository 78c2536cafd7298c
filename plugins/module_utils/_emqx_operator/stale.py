# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Evacuations the operator did not start, found and stopped while an update runs.

The operator takes the first evacuation listed cluster-wide for its own (pitfall 17): one that
someone started by hand and never stopped (an evacuation parks in prohibiting for ever) holds
every scale-down, and one on a node of the new revision keeps that node refusing clients. EMQX
also keeps an evacuation in the node's data directory, so a pod restarted on the volumes of an
evacuated node resumes evacuating. (A rollback does not bring old volumes back: op-2.2 never
scales an old StatefulSet up again, it starts the old template as a new set with empty volumes
once the update was Available - add_emqx_core.go.) op-2.2 starts evacuations only on nodes of
the old revision and only once the new one is Available, so an evacuation is not the operator's
when it is listed before Available, on a node that was not running when the update started, or
once the resource is Ready again."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import reason_of
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.summary import true_conditions

RETRY_AFTER = 10.0  # seconds before asking an EMQX API again that did not answer


def not_the_operators(evacuations, status, old_nodes, ready, foreign=()):
    """(entry, why) for every listed evacuation that the operator did not start; ``foreign`` are
    the nodes already evacuating when the task changed a resource that was Ready."""
    available = "Available" in true_conditions(status)
    out = []
    for entry in evacuations or []:
        node = entry.get("node")
        if ready:
            why = "the update has finished, yet the node is still evacuating"
        elif node in foreign:
            why = "the node was already evacuating when the update began, while no update was running"
        elif not available:
            why = "the node is evacuating before the new revision is Available, which the operator never does"
        elif node not in old_nodes:
            why = "the node was not running when the update started, so the operator would not evacuate it"
        else:
            continue
        out.append((entry, why))
    return out


class StaleEvacuations:
    """Finds evacuations through the EMQX API (``global_status``) and stops those that are not the
    operator's; ``stopped`` and ``errors`` tell what happened, for the module result."""

    def __init__(self, api_factory, clock):
        self.api_factory = api_factory  # callable returning a connected EmqxApi
        self.clock = clock
        self.api = None
        self.quiet_until = None
        self.stopped = []
        self.errors = []
        # Nodes evacuating at the first look after a change to a Ready resource: the operator starts an
        # evacuation only once the new nodes are Available and initialDelaySeconds have passed, so these
        # were started by someone else (None: take them from the next answer; the caller keeps the list
        # across runs of a sliced wait).
        self.foreign = []

    def _error(self, elapsed, text):
        if not self.errors or self.errors[-1]["error"] != text:
            self.errors.append({"t": elapsed, "error": text})
        self.quiet_until = self.clock() + RETRY_AFTER

    def check(self, obj, old_nodes, ready, elapsed):
        if self.quiet_until is not None and self.clock() < self.quiet_until:
            return []
        try:
            if self.api is None:
                self.api = self.api_factory()
            evacuations = self.api.global_status()["evacuations"]
            listed = sorted(str(e.get("node")) for e in evacuations)
            # once such an evacuation has ended (stopped here or otherwise), a new one on that node may be the operator's
            self.foreign = listed if self.foreign is None else [n for n in self.foreign if n in listed]
        except ApiError as exc:
            self.api = None  # the node behind the URL may be gone; connect again next time
            self._error(elapsed, "reading global_status: %s" % exc.msg)
            return []
        done = []
        for entry, why in not_the_operators(evacuations, obj.get("status") or {}, old_nodes, ready, set(self.foreign)):
            node = entry.get("node")
            try:
                self.api.stop_evacuation(node)
            except ApiError as exc:
                if reason_of(exc) != "not_started":  # stopped meanwhile: what we wanted
                    self._error(elapsed, "stopping the evacuation of %s: %s" % (node, exc.msg))
                    continue
            if node in self.foreign:
                self.foreign.remove(node)
            record = {"t": elapsed, "node": node, "state": entry.get("state"), "reason": why}
            self.stopped.append(record)
            done.append(record)
        return done
