# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Desired state of the operator's ``Rebalance`` CR: ``present`` (and, with wait, finished) or
``absent``. Its spec is immutable (the operator's webhook rejects changes), a Rebalance is
one-shot, and the operator reports ``Completed`` both when EMQX finished and when EMQX aborted
(pitfall 3), so with EMQX API access the outcome is decided from the node counts."""

from __future__ import annotations

import re
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError,
    TerminalFailure,
    ValidationError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import PollResult, poll

# module option -> rebalanceStrategy field
STRATEGY = (
    ("conn_evict_rate", "connEvictRate"),
    ("sess_evict_rate", "sessEvictRate"),
    ("wait_takeover", "waitTakeover"),
    ("wait_health_check", "waitHealthCheck"),
    ("abs_conn_threshold", "absConnThreshold"),
    ("rel_conn_threshold", "relConnThreshold"),
    ("abs_sess_threshold", "absSessThreshold"),
    ("rel_sess_threshold", "relSessThreshold"),
)
RELATIVE = ("relConnThreshold", "relSessThreshold")
DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
FINAL_PHASES = ("Completed", "Failed")
FINALIZER = "apps.emqx.io/finalizer"
# the CR's effective thresholds -> the names balance_report takes
THRESHOLDS = (("absConnThreshold", "abs_conn_threshold"), ("relConnThreshold", "rel_conn_threshold"),
              ("absSessThreshold", "abs_sess_threshold"), ("relSessThreshold", "rel_sess_threshold"))


def _relative(value):
    """The CRD keeps relative thresholds as strings, which the operator's webhook parses as Go float64s
    (Python's float() also takes "1_5" and "inf"); EMQX rejects values of 1.0 or less."""
    text = str(value).strip()
    try:
        if not DECIMAL.match(text):
            raise ValueError(text)
        number = float(text)
    except ValueError:
        raise ValidationError("relative thresholds must be decimal numbers above 1.0, such as 1.1, got %r" % (value,))
    if number <= 1.0:
        raise ValidationError("relative thresholds must be above 1.0 (EMQX rejects %s)" % text)
    return text


def desired_spec(params, version):
    strategy = {}
    for option, field in STRATEGY:
        value = params.get(option)
        if value is None:
            continue
        if field in RELATIVE:
            value = _relative(value)
        elif value < (1 if option == "conn_evict_rate" or option == "sess_evict_rate" else 0):
            raise ValidationError("%s must be %s, got %s" % (option, "at least 1" if "rate" in option else "0 or more", value))
        strategy[field] = value
    spec = {"instanceName": params["instance_name"], "rebalanceStrategy": strategy}
    if version == "v2beta1":
        spec["instanceKind"] = params["instance_kind"]
    elif params["instance_kind"] != "EmqxEnterprise":
        raise ValidationError("Rebalance %s targets EmqxEnterprise (EMQX 4.4) resources only; set instance_kind=EmqxEnterprise "
                              "or use api_version v2beta1 for an EMQX resource" % version)
    return spec


def _same(field, current, wanted):
    if field in RELATIVE and current is not None:
        try:
            return float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    return current == wanted


def spec_differences(current, wanted):
    """Fields the user set that differ from the CR (server defaults for unset fields are not differences)."""
    current = current or {}
    out = []
    for field in ("instanceName", "instanceKind"):
        if field in wanted and current.get(field, "EMQX" if field == "instanceKind" else None) != wanted[field]:
            out.append("%s: %r -> %r" % (field, current.get(field), wanted[field]))
    have = current.get("rebalanceStrategy") or {}
    for field, value in sorted(wanted["rebalanceStrategy"].items()):
        if not _same(field, have.get(field), value):
            out.append("rebalanceStrategy.%s: %r -> %r" % (field, have.get(field), value))
    return out


def summary(obj):
    """What the task reports about a Rebalance CR (None when absent)."""
    if obj is None:
        return None
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    return {"name": meta.get("name"), "namespace": meta.get("namespace"), "spec": obj.get("spec"),
            "phase": status.get("phase"), "conditions": status.get("conditions") or [],
            "rebalance_states": status.get("rebalanceStates") or [], "started_time": status.get("startedTime"),
            "completed_time": status.get("completedTime"), "deleting": bool(meta.get("deletionTimestamp"))}


# The operator's message when one read of EMQX's rebalance status failed while Processing
# (rebalanceStatusHandler in rebalance_controller.go). The CR is then Failed for good, but EMQX
# itself goes on rebalancing: the operator merely stopped watching.
LOST_TRACK = "Failed to get rebalance status"
# Reconcile checks the EMQX resource's Ready before the phase (rebalance_controller.go). Donors answer
# 503 to availability_check while they give clients away, their pods' on-serving readiness gate turns
# False (update_pod_conditions.go) and the resource loses Ready at its next reconcile (30 s apart when
# Ready): a rebalance that outlasts that is Failed with this message, for good, while EMQX goes on.
NOT_READY_SUFFIX = "is not ready"


def lost_track(obj):
    """Whether the operator gave up watching a rebalance that EMQX goes on with: Failed after it was Processing."""
    status = (obj or {}).get("status") or {}
    if status.get("phase") != "Failed":
        return False
    reason = failure_reason(obj)
    was_processing = any(c.get("type") == "Processing" for c in status.get("conditions") or [])
    return reason.startswith(LOST_TRACK) or (was_processing and reason.endswith(NOT_READY_SUFFIX))


def why_lost(obj):
    """The cause of ``lost_track``, in a sentence a user can act on."""
    if failure_reason(obj).startswith(LOST_TRACK):
        return "the operator lost track of the rebalance after one failed call to EMQX's API"
    return ("the EMQX resource lost Ready while the rebalance ran - donors answer 503 to availability_check while they give "
            "clients away, so their pods' on-serving readiness gate turns False - and the operator checks Ready before it "
            "looks at a rebalance; operator 2.2 does this to every rebalance that outlasts the EMQX resource's next "
            "reconcile (up to 30 s)")


def failure_reason(obj):
    status = obj.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("message"):
            return condition["message"]
    return "no reason given in status.conditions"


class OperatorRebalance:
    def __init__(self, objects, params, check_mode=False, emqx_api=None, version=None, clock=time.monotonic, sleep=time.sleep):
        self.objects = objects
        self.params = params
        self.check_mode = check_mode
        self.emqx_api = emqx_api  # optional callable returning an EmqxApi, for the aborted-vs-balanced check
        self.version = version
        self.clock = clock
        self.sleep = sleep
        self.name = params["name"]
        self.where = "Rebalance %s/%s" % (params["namespace"], params["name"])

    def run(self):
        before = self.objects.get(self.name)
        out = self._present(before) if self.params["state"] == "present" else self._absent(before)
        out.setdefault("before", summary(before))
        out["api_version"] = "apps.emqx.io/%s" % self.version
        out["diff"] = {"before": summary(before) or {}, "after": out.get("after") or {}}
        return out

    # present ---------------------------------------------------------------------------------
    def _body(self, spec):
        return {"apiVersion": "apps.emqx.io/%s" % self.version, "kind": "Rebalance",
                "metadata": {"name": self.name, "namespace": self.params["namespace"]}, "spec": spec}

    def _present(self, before):
        if not self.params.get("instance_name") or self.params.get("conn_evict_rate") is None:
            raise ValidationError("state=present needs instance_name and conn_evict_rate (the CRD requires both)")
        spec = desired_spec(self.params, self.version)
        changed = False
        if before is not None and (before.get("metadata") or {}).get("deletionTimestamp"):
            if self.check_mode:
                return {"changed": True, "after": summary(self._body(spec)), "recreated": True}
            self._wait_gone("is being deleted")
            before = None
        differences = spec_differences((before or {}).get("spec"), spec) if before is not None else []
        if differences:
            if not self.params["recreate"]:
                raise ValidationError(
                    "%s exists with another spec (%s). A Rebalance spec is immutable - the operator's webhook rejects "
                    "any change - and a Rebalance runs once; set recreate=true to delete it and run a new one"
                    % (self.where, "; ".join(differences)), differences=differences, current=summary(before))
            if self.check_mode:
                return {"changed": True, "after": summary(self._body(spec)), "recreated": True, "differences": differences}
            self._delete(before)
            self._wait_gone("was deleted to be recreated")
            before = None
        if before is None:
            if self.check_mode:
                return {"changed": True, "after": summary(self._body(spec))}
            current = self.objects.create(self._body(spec))
            changed = True
        else:
            current = before
        out = {"changed": changed}
        if differences:
            out.update(recreated=True, differences=differences)
        if self.params["wait"] and not self.check_mode:
            out.update(self._wait_final(current, started_here=changed))
        else:
            out["after"] = summary(current)
        return out

    def _wait_final(self, current, started_here):
        seen = {"participants": set(), "processing": (current.get("status") or {}).get("phase") == "Processing"}

        def fetch():
            obj = self.objects.get(self.name)
            if obj is None:
                raise TerminalFailure("%s was deleted while waiting for it to finish" % self.where)
            status = obj.get("status") or {}
            for entry in status.get("rebalanceStates") or []:
                seen["participants"].update(entry.get("donors") or [])
                seen["participants"].update(entry.get("recipients") or [])
            if status.get("phase") == "Processing":
                seen["processing"] = True
            return obj

        def sample(obj, elapsed):
            status = obj.get("status") or {}
            states = status.get("rebalanceStates") or [{}]
            return {"t": elapsed, "phase": status.get("phase"), "state": states[0].get("state"),
                    "donors": len(states[0].get("donors") or []), "recipients": len(states[0].get("recipients") or [])}

        def failed(obj):
            if (obj.get("status") or {}).get("phase") != "Failed":
                return None
            if lost_track(obj):
                if self.emqx_api is not None:
                    return None  # EMQX is followed below instead
                return ("%s failed: %s. It is Failed because %s, while EMQX goes on rebalancing; the operator will not "
                        "watch it again, and deleting the CR does not stop it (the operator stops only a Processing "
                        "rebalance). Give this module EMQX API access (emqx_api_url and credentials) to follow EMQX's own "
                        "rebalance, or read /api/v5/load_rebalance/global_status and stop it there with "
                        "zerodowntime.cluster.emqx_rebalance state=absent; zerodowntime.cluster.emqx_rebalance also runs a "
                        "rebalance through EMQX's API without a Rebalance CR"
                        % (self.where, failure_reason(obj), why_lost(obj)))
            return "%s failed: %s" % (self.where, failure_reason(obj))

        def final(obj):
            return (obj.get("status") or {}).get("phase") == "Completed" or (self.emqx_api is not None and lost_track(obj))

        result = poll(fetch, final, failed=failed,
                      timeout=self.params["wait_timeout"], interval=self.params["poll_interval"], sample=sample,
                      transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                      describe=lambda obj: "phase %s" % ((obj.get("status") or {}).get("phase") or "(not reconciled yet)"))
        out = {"after": summary(result.value), "timeline": result.samples, "elapsed": result.elapsed, "rebalance_outcome": None}
        if lost_track(result.value):
            result = self._follow_emqx(result, seen["participants"])
            out.update(timeline=result.samples, elapsed=result.elapsed, followed="emqx",
                       operator_verdict={"phase": "Failed", "message": failure_reason(result.value)},
                       warnings=["%s is Failed for good (%s): %s. This module followed EMQX's own rebalance to its end "
                                 "instead; rebalance_outcome is EMQX's verdict, operator_verdict the CR's. Delete the CR "
                                 "before creating another Rebalance of the same name." % (
                                     self.where, failure_reason(result.value), why_lost(result.value))])
        if self.emqx_api is not None and (started_here or seen["processing"]):
            out.update(self._outcome(result, sorted(seen["participants"])))
        return out

    def _follow_emqx(self, result, participants):
        """After the operator gave up on a rebalance, wait for EMQX's own to end (its entry leaves
        global_status), within what is left of wait_timeout."""
        remaining = max(0.0, float(self.params["wait_timeout"]) - float(result.elapsed or 0))
        held = {}  # one EMQX client for the whole follow, made at the first look that reaches EMQX

        def rebalances():
            if "api" not in held:
                held["api"] = self.emqx_api()
            entries = held["api"].global_status()["rebalances"]
            for entry in entries:
                participants.update(entry.get("donors") or [])
                participants.update(entry.get("recipients") or [])
            return entries

        def sample(entries, elapsed):
            first = entries[0] if entries else {}
            return {"t": round(float(result.elapsed or 0) + elapsed, 3), "phase": "Failed", "emqx_state": first.get("state") or "ended",
                    "donors": len(first.get("donors") or []), "recipients": len(first.get("recipients") or [])}

        try:
            followed = poll(rebalances, lambda entries: not entries, timeout=remaining, interval=self.params["poll_interval"],
                            sample=sample, transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                            describe=lambda entries: "the operator marked %s Failed and EMQX is still rebalancing: %s" % (
                                self.where, ", ".join("%s on %s" % (e.get("state"), e.get("node") or e.get("coordinator_node"))
                                                      for e in entries)))
        finally:
            if "api" in held:
                held["api"].client.close()
        return PollResult(result.value, round(float(result.elapsed or 0) + followed.elapsed, 3), result.samples + followed.samples)

    def _outcome(self, result, participants):
        from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.rebalance import balance_report

        strategy = (result.value.get("spec") or {}).get("rebalanceStrategy") or {}
        thresholds = {name: float(strategy[field]) for field, name in THRESHOLDS if strategy.get(field) is not None}
        api = self.emqx_api()
        try:
            nodes = {n["name"]: n for n in api.nodes()}
        finally:
            api.client.close()
        if not participants:
            # The rebalance ended before the operator's first look at it (5 s after the start), so its
            # status never named donors and recipients. The operator started it on the replicants,
            # or on the core nodes when there are none (getEmqxNodes in rebalance_controller.go).
            running = [(name, node) for name, node in sorted(nodes.items()) if node.get("status") == "running"]
            replicants = [name for name, node in running if node.get("role") == "replicant"]
            participants = replicants or [name for name, node in running]
        stopped = [n for n in participants if (nodes.get(n) or {}).get("status") != "running"]
        report = balance_report(nodes, [n for n in participants if n not in stopped], thresholds)
        if stopped or not report["balanced"]:
            why = ("participant(s) %s stopped" % ", ".join(stopped)) if stopped else (
                "connections %s / disconnected sessions %s are outside the thresholds"
                % (report["connections"], report["disconnected_sessions"]))
            raise TerminalFailure(
                "%s is Completed but the cluster is not balanced: %s. The operator reports a rebalance that EMQX "
                "aborted exactly like a finished one; this one was aborted" % (self.where, why),
                last=summary(result.value), elapsed=result.elapsed, samples=result.samples, rebalance_outcome="aborted",
                balance=report)
        return {"rebalance_outcome": "balanced", "balance": report}

    # absent ----------------------------------------------------------------------------------
    def _absent(self, before):
        if before is None:
            return {"changed": False, "after": None}
        if self.check_mode:
            return {"changed": True, "after": None}
        self._delete(before)
        out = {"changed": True, "after": summary(self.objects.get(self.name))}
        if self.params["wait"]:
            result = self._wait_gone("was deleted")
            out.update(after=None, elapsed=result.elapsed)
        return out

    def _delete(self, current):
        """Delete the CR once a 2.2 operator can handle it. On deletion the operator stops a Processing
        rebalance at the coordinator named in rebalanceStates[0] (stopRebalance), which it first fills
        about 5 s after the start: deleting before that is an index out of range, and without panic
        recovery (controller-runtime 0.17) the operator crashes on it at every restart, for every
        resource it manages. So a Processing Rebalance without rebalanceStates is deleted only once
        the operator has looked at it; so is one the operator is starting (its finalizer is on, no
        phase yet), which becomes such a Rebalance a moment later."""
        def unsafe(obj):
            status = (obj or {}).get("status") or {}
            starting = not status.get("phase") and FINALIZER in (((obj or {}).get("metadata") or {}).get("finalizers") or [])
            return starting or (status.get("phase") == "Processing" and not status.get("rebalanceStates"))

        if unsafe(current):
            poll(lambda: self.objects.get(self.name), lambda obj: obj is None or not unsafe(obj),
                 timeout=self.params["wait_timeout"], interval=self.params["poll_interval"], transient=(ApiError,),
                 clock=self.clock, sleep=self.sleep,
                 describe=lambda obj: "%s is being started by the operator, which has not yet named its coordinator "
                                      "(phase %s, status.rebalanceStates empty); deleting it now would crash a 2.2 operator"
                                      % (self.where, ((obj or {}).get("status") or {}).get("phase") or "not set"))
        self.objects.delete(self.name)

    def _wait_gone(self, why):
        """Until the CR is gone: the operator removes its finalizer (stopping a running rebalance) first.
        A 2.2 operator checks that the EMQX target is Ready before it handles a deletion: while it is
        not, it keeps the finalizer, marks the Rebalance Failed (so that it will never stop it) and the
        wait could only time out; that is said at once, after stopping EMQX's rebalance itself."""
        def held(obj):
            status = (obj or {}).get("status") or {}
            deleting = ((obj or {}).get("metadata") or {}).get("deletionTimestamp")
            failed = [c for c in status.get("conditions") or [] if c.get("type") == "Failed"]
            # Failed "... is not ready" set again since the deletion (the operator sets it at every look,
            # which moves its lastUpdateTime); one from before the deletion may be old news
            if (status.get("phase") != "Failed" or not deleting or not failed or not failure_reason(obj).endswith("is not ready")
                    or str(failed[0].get("lastUpdateTime") or "") < str(deleting)):
                return None
            return self._finalizer_held(obj)

        return poll(lambda: self.objects.get(self.name), lambda obj: obj is None, failed=held, timeout=self.params["wait_timeout"],
                    interval=self.params["poll_interval"], transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                    describe=lambda obj: "%s %s but still has finalizers %s" % (
                        self.where, why, (obj.get("metadata") or {}).get("finalizers")))

    def _finalizer_held(self, obj):
        reason = failure_reason(obj)
        head = ("%s is being deleted, but the operator keeps its finalizer while the target is not Ready (%s): it checks "
                "Ready before it handles a deletion, and has now marked the Rebalance Failed, so it will not stop the "
                "rebalance when the target is Ready again, it will only release the finalizer then. " % (self.where, reason))
        if self.emqx_api is None:
            return head + ("EMQX may still be rebalancing: stop it with zerodowntime.cluster.emqx_rebalance state=absent (or "
                           "POST /api/v5/load_rebalance/<coordinator>/stop), or give this module emqx_api_url to do so")
        api = self.emqx_api()
        try:
            running = api.global_status()["rebalances"]
            for entry in running:
                api.stop_rebalance(entry.get("coordinator_node") or entry.get("node"))
        finally:
            api.client.close()
        if running:
            return head + "This module stopped EMQX's rebalance through its API (coordinator %s); the CR goes once the " \
                "target is Ready" % ", ".join(str(e.get("coordinator_node") or e.get("node")) for e in running)
        return head + "EMQX runs no rebalance; the CR goes once the target is Ready"
