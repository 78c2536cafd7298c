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

import json
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError,
    TerminalFailure,
    ValidationError,
    WaitTimeout,
    ZdtError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import eta_seconds
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.summary import node_evacuations
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.update_progress import (
    MAX_SAMPLES,
    old_pod_count,
    progress_of,
)

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
# The ETA of an evacuation comes from the rate over this many recent samples (polling.eta_seconds).
ETA_POINTS = 10
# How long the old revision's replicas must stay above their low before that is the scale-up loop
# (at least three looks): longer than a stopping node's readiness lags, far shorter than the loop lasts.
RISE_CONFIRM_S = 5.0


def update_problems(params):
    """Problems with the options that the wait options' check does not cover (empty when fine)."""
    problems = []
    if params.get("stall_timeout") is not None and params["stall_timeout"] <= 0:
        problems.append("stall_timeout must be a positive number of seconds")
    if params.get("progress_interval") is not None and params["progress_interval"] <= 0:
        problems.append("progress_interval must be a positive number of seconds, got %s" % params["progress_interval"])
    return problems


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
            tuple((e.get("node"), e.get("state"), remaining([e])) for e in node_evacuations(status)))


def diagnose(obj, stalled_for, image):
    """Why an update that has not moved for ``stalled_for`` seconds is stuck, from its status."""
    status = obj.get("status") or {}
    revisions = status.get("coreNodesStatus") or {}
    types = [c.get("type") for c in conditions_of(status)]
    evacuations = node_evacuations(status)
    spec = obj.get("spec") or {}
    if "Available" not in types and evacuations:
        return ("stuck update: %s evacuating (%s) while the new revision's nodes start, so they never pass their "
                "availability check and the operator waits for ever. An evacuation started by hand and never stopped, or a "
                "pod restarted on the volumes of an evacuated node (EMQX keeps the evacuation there), does that; stop it with POST "
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
    evacuations = node_evacuations(status)
    point = {"t": elapsed, "conditions": [c.get("type") for c in conditions_of(status)],
             "current_replicas": revisions.get("currentReplicas"), "update_replicas": revisions.get("updateReplicas"),
             "evacuations": [{"node": e.get("node"), "state": e.get("state"), "remaining": remaining([e])} for e in evacuations],
             "remaining": remaining(evacuations) if evacuations else None}
    point["eta_seconds"] = eta_seconds(history + [point], "remaining") if evacuations else None
    return point


class EmqxUpdate:
    """Patch the spec and supervise the update. ``wait_slice`` (from the action plugin of the same
    name as the module) makes one run wait for at most ``progress_interval`` seconds and hand the
    state of the wait back in ``wait_slice``, to be continued by the next run; without it the whole
    wait happens in this run."""

    def __init__(self, resource, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, stale=None, wait_slice=None):
        self.resource = resource  # get(name) / patch(name, body) / status reads, plain dicts
        self.stale = stale  # optional StaleEvacuations: stops evacuations the operator did not start
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.wait_slice = wait_slice
        self.where = "EMQX %s/%s" % (params["namespace"], params["name"])

    def run(self):
        if self.wait_slice and self.wait_slice.get("state") and not self.check_mode:
            # a later run of a sliced wait: the first run changed what there was to change
            out = {"changed": False}
            out.update(self._wait(self.wait_slice["state"]))
            self._add_stale(out)
            return out
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
               "before": self._seen(before), "hazards": []}
        if node_evacuations(before.get("status") or {}) and changed_paths and template:
            out["hazards"].append("evacuations are already listed in %s; the operator takes the first one listed for its own, "
                                  "so it may wait on it or delete the wrong pod" % self.where)
        out["diff"] = {"before": {"spec": before.get("spec")}, "after": {"spec": _merged(before.get("spec") or {}, patch)}}
        if self.check_mode:
            return out
        current = self._patch(patch) if changed_paths else before
        if self.params["wait"] and (template and changed_paths or not is_ready(current)):
            out.update(self._wait(self._first_state(before, template and bool(changed_paths))))
        else:
            out["after"] = self._seen(current)
        self._add_stale(out)
        return out

    def _add_stale(self, out):
        if self.stale is not None:
            out["stopped_evacuations"] = self.stale.stopped
            out["evacuation_api_errors"] = self.stale.errors

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

    @classmethod
    def _seen(cls, obj):
        """The spec and revisions of the resource; collision_count is how often the operator found the set
        of a template already there and hashed again (a rollback once the update was Available gets a new
        set with empty volumes that way, add_emqx_core.go)."""
        revisions = (obj.get("status") or {}).get("coreNodesStatus") or {}
        return {"spec": obj.get("spec"), "revisions": cls._revisions(obj), "collision_count": revisions.get("collisionCount") or 0}

    def _first_state(self, before, expect_new_revision):
        """The state of a wait that starts now: all a later run needs to go on with it (a few values)."""
        return {"old_update": self._revisions(before)["update"], "new_revision_seen": not expect_new_revision,
                "old_nodes": sorted(str(n) for n in self._running_nodes(before)), "old_pods": old_pod_count(before),
                "stall_key": None, "stall_since": 0.0, "low_revision": None, "peak_current": None, "rise_since": None, "history": [],
                "stale_quiet_until": None, "foreign_evacuations": None if expect_new_revision and is_ready(before) else []}

    def _wait(self, state):
        """Wait from ``state``; times count from the start of the wait (``wait_slice.elapsed`` had
        passed when this run began)."""
        state = dict(state, history=list(state.get("history") or []))
        sliced = self.wait_slice is not None
        offset = float((self.wait_slice or {}).get("elapsed") or 0.0)
        remaining = float(self.wait_slice["remaining"]) if sliced else float(self.params["wait_timeout"])
        # the last run ends at the deadline; the others hand over when the next look would pass progress_interval
        final = not sliced or remaining <= self.params["progress_interval"]
        budget = remaining if final else float(self.params["progress_interval"])
        interval = float(self.params["poll_interval"])
        started = self.clock()
        old_nodes = set(state["old_nodes"])
        if self.stale is not None and state.get("stale_quiet_until") is not None:
            self.stale.quiet_until = started + state["stale_quiet_until"] - offset
        if self.stale is not None:
            self.stale.foreign = state.get("foreign_evacuations", [])

        def now():
            return round(offset + self.clock() - started, 3)

        def fetch():
            obj = self.resource.get(self.params["name"])
            if obj is None:
                raise TerminalFailure("%s was deleted during the update" % self.where)
            status = obj.get("status") or {}
            revisions = status.get("coreNodesStatus") or {}
            if not state["new_revision_seen"] and (revisions.get("updateRevision") != state["old_update"] or not any(
                    c.get("type") == "Ready" for c in conditions_of(status))):
                state["new_revision_seen"] = True
            # a Ready from before the operator saw the change says nothing about evacuations (pitfall 21)
            finished = state["new_revision_seen"] and is_ready(obj)
            if self.stale is not None:
                stopped = self.stale.check(obj, old_nodes, finished, round(now(), 1))
                state["foreign_evacuations"] = self.stale.foreign
                if stopped:
                    obj = self.resource.get(self.params["name"]) or obj
                    status = obj.get("status") or {}
            key = json.dumps(progress_key(status), sort_keys=True, default=str)
            if key != state["stall_key"]:
                state["stall_key"], state["stall_since"] = key, now()
            return obj

        def done(obj):
            return state["new_revision_seen"] and is_ready(obj)

        # The old revision's replicas only fall during an update. A status can count an old node once more
        # while it stops (its readiness lags), so only a rise that lasts is the operator's scale-up loop,
        # which brings old pods back for good.
        rise_confirm = max(3 * interval, RISE_CONFIRM_S)

        def failed(obj):
            revisions = (obj.get("status") or {}).get("coreNodesStatus") or {}
            current = revisions.get("currentReplicas")
            if revisions.get("currentRevision") != state.get("low_revision"):
                # A rollback once the update was Available drains two old sets, one after the other
                # (update_emqx_status.go makes the next old set with replicas the current one): the count
                # starts again with each.
                state["low_revision"], state["peak_current"], state["rise_since"] = revisions.get("currentRevision"), None, None
            if current is not None and state["new_revision_seen"] and revisions.get("currentRevision") != revisions.get("updateRevision"):
                low = state["peak_current"]  # the fewest old replicas of this old revision seen so far
                if low is not None and current > low:
                    if state["rise_since"] is None:
                        state["rise_since"] = now()
                    if now() - state["rise_since"] >= rise_confirm:
                        return ("scale-up loop: the old revision %s went from %s to %s replicas during the update and stayed there "
                                "for %.0f s (operator bug #1105, fixed in 2.2.29); stop and upgrade the operator" % (
                                    revisions.get("currentRevision"), low, current, now() - state["rise_since"]))
                else:
                    state["rise_since"] = None
                    state["peak_current"] = current if low is None else min(low, current)
            stalled_for = now() - state["stall_since"]
            if stalled_for >= self.params["stall_timeout"]:
                return diagnose(obj, stalled_for, self.params.get("image"))
            return None

        def ended(obj, samples, t, handover):
            out = {"timeline": samples, "elapsed": t,
                   "evacuated_nodes": sorted({e["node"] for s in samples for e in s["evacuations"]})}
            if obj is not None and not handover:
                out["after"] = self._seen(obj)
            if sliced:
                if self.stale is not None and self.stale.quiet_until is not None:
                    state["stale_quiet_until"] = round(offset + self.stale.quiet_until - started, 3)
                out["wait_slice"] = {
                    "state": state if handover else None, "run_s": round(self.clock() - started, 3),
                    "progress": None if obj is None else progress_of(obj, state["new_revision_seen"], not handover, old_nodes,
                                                                     state["old_pods"])}
            return out

        samples = []
        last = last_error = None
        try:
            while True:
                try:
                    last = fetch()
                    last_error = None
                except ApiError as exc:  # transient: look again until the deadline
                    last_error = exc
                else:
                    t = now()
                    point = sample_of(last, t, state["history"])
                    if point["remaining"] is not None:
                        state["history"] = (state["history"] + [{"t": t, "remaining": point["remaining"]}])[-ETA_POINTS:]
                    samples.append(point)
                    if len(samples) > MAX_SAMPLES:
                        samples[1:] = samples[1::2]  # keep the first sample and thin the rest so long waits stay bounded
                    if done(last):
                        return ended(last, samples, t, handover=False)
                    reason = failed(last)
                    if reason:
                        raise TerminalFailure(reason, last=last, elapsed=t, samples=samples)
                spent = self.clock() - started
                if final and spent >= budget:
                    state_text = last if last is None else "conditions %s, revisions %s" % (
                        [c.get("type") for c in conditions_of(last.get("status") or {})], self._revisions(last))
                    msg = "timed out after %.0fs waiting; last observed: %s" % (now(), state_text)
                    if last_error is not None:
                        msg += "; last error: %s" % last_error
                    raise WaitTimeout(msg, last=last, elapsed=now(), samples=samples)
                if not final and spent + interval > budget:
                    return ended(last, samples, samples[-1]["t"] if samples else now(), handover=True)
                self.sleep(min(interval, budget - spent))
        except ZdtError as exc:
            if self.stale is not None:
                exc.details.update(stopped_evacuations=self.stale.stopped, evacuation_api_errors=self.stale.errors)
            raise


def continue_unreachable(wait_slice, params, error):
    """A later run of a sliced wait that could not reach the Kubernetes API: the wait goes on
    (as it does when a read fails within one run) until its deadline."""
    if float(wait_slice["remaining"]) <= params["progress_interval"]:
        raise WaitTimeout("timed out after %.0fs waiting; last error: %s" % (float(wait_slice.get("elapsed") or 0.0), error),
                          elapsed=wait_slice.get("elapsed"))
    return {"changed": False, "timeline": [], "elapsed": wait_slice.get("elapsed"), "evacuated_nodes": [],
            "wait_slice": {"state": wait_slice["state"], "run_s": 0.0, "progress": None, "error": str(error)}}


def _merged(spec, patch):
    out = dict(spec)
    for key, value in patch.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
