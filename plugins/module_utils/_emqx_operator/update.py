# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Desired spec of an ``EMQX`` resource and supervision of the operator's blue-green update.

v2beta1 conditions carry no observedGeneration and Ready stays True until the operator's next
reconcile (pitfall 21), so after a template change the wait first sees ``updateRevision`` move
(or Ready disappear), then waits for Ready with ``currentRevision == updateRevision``. Progress
is judged from the status; when nothing moves for ``stall_timeout`` seconds the task fails with
what the status shows (pitfalls 17-20)."""

from __future__ import annotations

import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError,
    TerminalFailure,
    ValidationError,
    ZdtError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import eta_seconds, poll

# module option -> updateStrategy path
STRATEGY = (
    ("initial_delay_seconds", ("initialDelaySeconds",)),
    ("conn_evict_rate", ("evacuationStrategy", "connEvictRate")),
    ("sess_evict_rate", ("evacuationStrategy", "sessEvictRate")),
    ("wait_takeover", ("evacuationStrategy", "waitTakeover")),
    ("wait_health_check", ("evacuationStrategy", "waitHealthCheck")),
)
TEMPLATE_FIELDS = ("image", "clusterDomain", "coreTemplate", "replicantTemplate")
DEFAULT_DOMAIN = "cluster.local"


def desired_patch(params):
    """The merge patch for the spec (only what the user set)."""
    spec = dict(params.get("spec") or {})
    if params.get("image"):
        spec["image"] = params["image"]
    strategy = {}
    for option, path in STRATEGY:
        value = (params.get("update_strategy") or {}).get(option)
        if value is None:
            continue
        if value < (1 if option.endswith("evict_rate") else 0):
            raise ValidationError("update_strategy.%s must be %s, got %s" % (
                option, "at least 1" if option.endswith("evict_rate") else "0 or more", value))
        target = strategy
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    if strategy:
        spec["updateStrategy"] = strategy
    if not spec:
        raise ValidationError("nothing to set: give image, update_strategy or spec")
    return spec


def differences(current, patch, prefix="spec"):
    """Leaves of ``patch`` that differ from ``current`` (merge-patch semantics)."""
    out = []
    current = current if isinstance(current, dict) else {}
    for key, value in sorted(patch.items()):
        path = "%s.%s" % (prefix, key)
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            out.extend(differences(current[key], value, path))
        elif current.get(key) != value:
            out.append(path)
    return out


def template_changed(changed_paths):
    """Whether the change touches the pod template, which is what starts a blue-green update
    (replica counts are patched in place, without evacuation)."""
    for path in changed_paths:
        parts = path.split(".")
        if parts[1] in TEMPLATE_FIELDS and not (len(parts) >= 4 and parts[2] == "spec" and parts[3] == "replicas"):
            return True
    return False


def conditions_of(status):
    return [c for c in status.get("conditions") or [] if c.get("status") == "True"]


def is_ready(obj):
    status = obj.get("status") or {}
    revisions = status.get("coreNodesStatus") or {}
    ready = any(c.get("type") == "Ready" for c in conditions_of(status))
    replicant = status.get("replicantNodesStatus") or {}
    same = revisions.get("currentRevision") == revisions.get("updateRevision")
    if replicant.get("updateRevision"):
        same = same and replicant.get("currentRevision") == replicant.get("updateRevision")
    return ready and same


def remaining(evacuations):
    """Connections plus sessions still to move off the nodes being evacuated."""
    total = 0
    for entry in evacuations or []:
        stats = entry.get("stats") or {}
        total += int(stats.get("current_connected") or 0) + int(stats.get("current_sessions") or 0)
    return total


def progress_key(status):
    revisions = status.get("coreNodesStatus") or {}
    return (tuple(c.get("type") for c in conditions_of(status)), revisions.get("currentReplicas"), revisions.get("updateReplicas"),
            revisions.get("readyReplicas"), revisions.get("updateRevision"),
            tuple((e.get("node"), e.get("state"), remaining([e])) for e in status.get("nodeEvacuationsStatus") or []))


def diagnose(obj, stalled_for, image):
    """Why an update that has not moved for ``stalled_for`` seconds is stuck, from its status."""
    status = obj.get("status") or {}
    revisions = status.get("coreNodesStatus") or {}
    types = [c.get("type") for c in conditions_of(status)]
    evacuations = status.get("nodeEvacuationsStatus") or []
    spec = obj.get("spec") or {}
    if "Available" not in types and evacuations:
        return ("stuck update: %s evacuating (%s) while the new revision's nodes start, so they never pass their "
                "availability check and the operator waits for ever. A node restarted with an old data directory - an "
                "old revision scaled back up by a rollback - resumes its evacuation (pitfall 2); stop it with POST "
                "/api/v5/load_rebalance/<node>/evacuation/stop, or give emqx_api_url so that this module does" % (
                    ", ".join(str(e.get("node")) for e in evacuations), ", ".join(str(e.get("state")) for e in evacuations)))
    if "Available" not in types:
        progressing = next((c for c in conditions_of(status) if c.get("type", "").endswith("Progressing")), {})
        return ("stuck update: the new nodes are not ready after %.0fs (%s: %s; updateReplicas %s of %s). The new "
                "image %r probably cannot be pulled or does not start; set the previous image again to roll back "
                "(the operator then reverts updateRevision)" % (
                    stalled_for, progressing.get("type", "no progress condition"), progressing.get("message", ""),
                    revisions.get("updateReplicas"), revisions.get("replicas"), image))
    if evacuations and evacuations[0].get("state") != "prohibiting":
        first = evacuations[0]
        return ("stuck update: the evacuation of %s has stayed in state %s for %.0fs with %s connections/sessions "
                "left. The operator waits for it before removing any old node; check that migrate_to nodes are "
                "available, and that no evacuation was started outside the operator" % (
                    first.get("node"), first.get("state"), stalled_for, remaining([first])))
    if (revisions.get("currentReplicas") or 0) > 0:
        return ("stuck update: old nodes are left in the cluster (%s old replicas, revision %s) for %.0fs although the "
                "new nodes are Available; see the operator's events (ReconcilerFailed) - operator versions before "
                "2.2.29 fail to scale the old StatefulSet down" % (
                    revisions.get("currentReplicas"), revisions.get("currentRevision"), stalled_for))
    return "the update has not progressed for %.0fs (conditions %s, clusterDomain %s)" % (
        stalled_for, ", ".join(types) or "none", spec.get("clusterDomain", DEFAULT_DOMAIN))


def sample_of(obj, elapsed, history):
    status = obj.get("status") or {}
    revisions = status.get("coreNodesStatus") or {}
    evacuations = status.get("nodeEvacuationsStatus") or []
    point = {"t": elapsed, "conditions": [c.get("type") for c in conditions_of(status)],
             "current_replicas": revisions.get("currentReplicas"), "update_replicas": revisions.get("updateReplicas"),
             "evacuations": [{"node": e.get("node"), "state": e.get("state"), "remaining": remaining([e])} for e in evacuations],
             "remaining": remaining(evacuations) if evacuations else None}
    point["eta_seconds"] = eta_seconds(history + [point], "remaining") if evacuations else None
    return point


class EmqxUpdate:
    def __init__(self, resource, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, stale=None):
        self.resource = resource  # get(name) / patch(name, body) / status reads, plain dicts
        self.stale = stale  # optional StaleEvacuations: stops evacuations the operator did not start
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.where = "EMQX %s/%s" % (params["namespace"], params["name"])

    def run(self):
        before = self.resource.get(self.params["name"])
        if before is None:
            raise ValidationError("%s does not exist" % self.where)
        patch = desired_patch(self.params)
        changed_paths = differences(before.get("spec") or {}, patch)
        domain = patch.get("clusterDomain", (before.get("spec") or {}).get("clusterDomain", DEFAULT_DOMAIN))
        template = template_changed(changed_paths)
        if template and domain != DEFAULT_DOMAIN and not self.params["allow_custom_cluster_domain"]:
            raise ValidationError(
                "%s uses clusterDomain %r: the operator (op-2.2) looks old core nodes up under svc.cluster.local, gets "
                "404, takes them for stopped and deletes them without evacuation, dropping their sessions. Set "
                "allow_custom_cluster_domain=true to update anyway" % (self.where, domain))
        out = {"changed": bool(changed_paths), "changed_fields": changed_paths, "blue_green": template and bool(changed_paths),
               "before": {"spec": before.get("spec"), "revisions": self._revisions(before)}, "hazards": []}
        if (before.get("status") or {}).get("nodeEvacuationsStatus") and changed_paths and template:
            out["hazards"].append("evacuations are already listed in %s; the operator treats the first one as its own "
                                  "(pitfall 17)" % self.where)
        out["diff"] = {"before": {"spec": before.get("spec")}, "after": {"spec": _merged(before.get("spec") or {}, patch)}}
        if self.check_mode:
            return out
        current = self._patch(patch) if changed_paths else before
        if self.params["wait"] and (template and changed_paths or not is_ready(current)):
            out.update(self._wait(before, template and bool(changed_paths)))
        else:
            out["after"] = {"spec": current.get("spec"), "revisions": self._revisions(current)}
        if self.stale is not None:
            out["stopped_evacuations"] = self.stale.stopped
            out["evacuation_api_errors"] = self.stale.errors
        return out

    def _patch(self, patch):
        try:
            return self.resource.patch(self.params["name"], {"spec": patch})
        except ApiError as exc:
            # The CRD of operator 2.2 has no waitHealthCheck; the server refused the patch (nothing changed).
            if "unknown field" in str(exc) and "waitHealthCheck" in str(exc):
                raise ValidationError(
                    "%s: the installed CRD has no updateStrategy.evacuationStrategy.waitHealthCheck, so the operator is "
                    "older than 2.3 and always lets EMQX wait its default 60 s per evacuated node; remove "
                    "wait_health_check (nothing was changed). The API server said: %s" % (self.where, exc.message or exc))
            raise

    @staticmethod
    def _running_nodes(obj):
        status = obj.get("status") or {}
        return {n.get("node") for n in (status.get("coreNodes") or []) + (status.get("replicantNodes") or [])
                if str(n.get("node_status") or "").lower() == "running"}

    @staticmethod
    def _revisions(obj):
        revisions = (obj.get("status") or {}).get("coreNodesStatus") or {}
        return {"current": revisions.get("currentRevision"), "update": revisions.get("updateRevision")}

    def _wait(self, before, expect_new_revision):
        old_update = self._revisions(before)["update"]
        history = []
        started = self.clock()
        old_nodes = self._running_nodes(before)
        progress = {"key": None, "since": self.clock(), "new_revision_seen": not expect_new_revision,
                    "peak_current": None}

        def fetch():
            obj = self.resource.get(self.params["name"])
            if obj is None:
                raise TerminalFailure("%s was deleted during the update" % self.where)
            status = obj.get("status") or {}
            revisions = status.get("coreNodesStatus") or {}
            if not progress["new_revision_seen"] and (revisions.get("updateRevision") != old_update or not any(
                    c.get("type") == "Ready" for c in conditions_of(status))):
                progress["new_revision_seen"] = True
            # a Ready from before the operator saw the change says nothing about evacuations (pitfall 21)
            finished = progress["new_revision_seen"] and is_ready(obj)
            if self.stale is not None and self.stale.check(obj, old_nodes, finished, round(self.clock() - started, 1)):
                obj = self.resource.get(self.params["name"]) or obj
                status = obj.get("status") or {}
            key = progress_key(status)
            if key != progress["key"]:
                progress["key"], progress["since"] = key, self.clock()
            return obj

        def done(obj):
            return progress["new_revision_seen"] and is_ready(obj)

        def failed(obj):
            revisions = (obj.get("status") or {}).get("coreNodesStatus") or {}
            current = revisions.get("currentReplicas")
            if current is not None and progress["new_revision_seen"] and revisions.get("currentRevision") != revisions.get("updateRevision"):
                if progress["peak_current"] is not None and current > progress["peak_current"]:
                    return ("scale-up loop: the old revision %s went from %s to %s replicas during the update (operator bug "
                            "#1105, fixed in 2.2.29); stop and upgrade the operator" % (
                                revisions.get("currentRevision"), progress["peak_current"], current))
                progress["peak_current"] = current if progress["peak_current"] is None else min(progress["peak_current"], current)
            stalled_for = self.clock() - progress["since"]
            if stalled_for >= self.params["stall_timeout"]:
                return diagnose(obj, stalled_for, self.params.get("image"))
            return None

        def sample(obj, elapsed):
            point = sample_of(obj, elapsed, history)
            history.append(point)
            return point

        try:
            result = self._poll(fetch, done, failed, sample)
        except ZdtError as exc:
            if self.stale is not None:
                exc.details.update(stopped_evacuations=self.stale.stopped, evacuation_api_errors=self.stale.errors)
            raise
        after = result.value
        evacuated = sorted({e["node"] for s in result.samples for e in s["evacuations"]})
        return {"after": {"spec": after.get("spec"), "revisions": self._revisions(after)}, "timeline": result.samples,
                "elapsed": result.elapsed, "evacuated_nodes": evacuated}

    def _poll(self, fetch, done, failed, sample):
        return poll(fetch, done, failed=failed, timeout=self.params["wait_timeout"], interval=self.params["poll_interval"],
                    sample=sample, transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                    describe=lambda obj: "conditions %s, revisions %s" % (
                        [c.get("type") for c in conditions_of(obj.get("status") or {})], self._revisions(obj)))


def _merged(spec, patch):
    out = dict(spec)
    for key, value in patch.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
