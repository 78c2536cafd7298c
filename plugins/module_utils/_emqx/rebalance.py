# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Desired-state load rebalance: ``started`` (and, with wait, finished *and* balanced) or
``absent``. EMQX removes a rebalance from global_status both when it finishes and when it is
aborted, so the outcome is decided from the node counts afterwards (pitfall 3)."""

from __future__ import annotations

import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, TerminalFailure, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import poll
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import EmqxApi, is_rpc_error, number, reason_of, unlisted
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.features import version_problems
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.validate import validate_rebalance

DEFAULT_WAIT_TAKEOVER = 60
THRESHOLD_DEFAULTS = {"abs_conn_threshold": 1000, "rel_conn_threshold": 1.1, "abs_sess_threshold": 1000, "rel_sess_threshold": 1.1}
PLAIN_OPTIONS = ("conn_evict_rate", "sess_evict_rate", "abs_conn_threshold", "rel_conn_threshold", "abs_sess_threshold", "rel_sess_threshold")


def build_request(params, durations, nodes):
    body = {"nodes": list(nodes)}
    for name in PLAIN_OPTIONS:
        if params.get(name) is not None:
            body[name] = params[name]
    for name in ("wait_health_check", "wait_takeover"):
        if name in durations:
            body[name] = int(round(durations[name]))
    for name in ("conn_evict_rpc_timeout", "sess_evict_rpc_timeout"):
        if name in durations:
            body[name] = int(round(durations[name] * 1000))  # the REST API takes milliseconds
    return body


def _mean(values):
    return sum(values) / float(len(values)) if values else 0.0


def split_by_average(counts):
    """(donors, recipients): the nodes at or above the average count, and those below, as EMQX
    splits the participants when a rebalance starts."""
    average = _mean(list(counts.values()))
    return [n for n, c in counts.items() if c >= average], [n for n, c in counts.items() if c < average]


def thresholds_of(params):
    """The four balance thresholds, EMQX's defaults where the task leaves one unset."""
    return {k: (params.get(k) if params.get(k) is not None else v) for k, v in THRESHOLD_DEFAULTS.items()}


def side_balanced(counts, abs_threshold, rel_threshold, donors=None, recipients=None):
    """EMQX's balance condition (section 3.3, with the code's <=) for one metric.

    Donors are nodes at or above the average and recipients those below, unless the sets the
    coordinator chose are given."""
    if not counts:
        return True, 0.0, 0.0
    if donors is None or recipients is None:
        donors, recipients = split_by_average(counts)
    donors = [n for n in donors if n in counts]
    recipients = [n for n in recipients if n in counts]
    if not donors or not recipients:
        return True, _mean([counts[n] for n in donors]), _mean([counts[n] for n in recipients])
    avg_d = _mean([counts[n] for n in donors])
    avg_r = _mean([counts[n] for n in recipients])
    return (avg_d <= avg_r + abs_threshold or avg_d <= avg_r * rel_threshold), avg_d, avg_r


EMQX_DEFAULT_EVICT_RATE = 500
# module option -> (abs threshold, rel threshold, the count it moves)
RATE_LIMITS = (("conn_evict_rate", "abs_conn_threshold", "rel_conn_threshold", "connections"),
               ("sess_evict_rate", "abs_sess_threshold", "rel_sess_threshold", "disconnected sessions"))


def safe_evict_rate(counts, abs_threshold, rel_threshold):
    """The highest per-donor rate whose last second cannot leave the participants further apart
    than the thresholds allow, or None when nothing needs moving.

    Every second EMQX evicts the full rate from each donor still above the recipients' average
    (evict_conns/evict_sessions and nodes_to_evict in emqx_node_rebalance.erl), so its last second
    can take a donor up to one rate below the goal while the recipients take what it evicted: a
    gap of up to rate * (1 + donors / recipients) around the average."""
    if not counts:
        return None
    donors, recipients = split_by_average(counts)
    if not donors or not recipients:
        return None
    allowed = max(float(abs_threshold), (float(rel_threshold) - 1.0) * _mean(list(counts.values())))
    return max(1, int(allowed / (1.0 + len(donors) / float(len(recipients)))))


def participant_counts(nodes, participants):
    """{"connections": live connections, "disconnected sessions": sessions without a connection} per participant."""
    live = {n: (nodes.get(n) or {}).get("live_connections") or 0 for n in participants}
    return {"connections": live,
            "disconnected sessions": {n: max(0, ((nodes.get(n) or {}).get("sessions") or 0) - live[n]) for n in participants}}


def choose_rates(params, body, nodes):
    """Fill in the eviction rates the user left unset with the highest that cannot overshoot (at
    most EMQX's default), and warn about set rates above that. Returns (chosen options, warnings,
    {option: the highest rate that cannot overshoot, or None})."""
    thresholds = thresholds_of(params)
    counts = participant_counts(nodes, body["nodes"])
    chosen, warnings, limits = [], [], {}
    for option, abs_key, rel_key, what in RATE_LIMITS:
        safe = limits[option] = safe_evict_rate(counts[what], thresholds[abs_key], thresholds[rel_key])
        if params.get(option) is None:
            body[option] = min(EMQX_DEFAULT_EVICT_RATE, safe or EMQX_DEFAULT_EVICT_RATE)
            chosen.append(option)
        elif safe is not None and params[option] > safe:
            warnings.append(
                "%s=%s can overshoot: EMQX evicts it from every donor above the goal each second, so the last second can "
                "leave the nodes' %s further apart than %s=%s / %s=%s allow; at most %s cannot"
                % (option, params[option], what, abs_key, thresholds[abs_key], rel_key, thresholds[rel_key], safe))
    return chosen, warnings, limits


def balance_report(nodes, participants, params, donors=None, recipients=None):
    """Is the cluster balanced among ``participants`` by EMQX's own rule? Uses /nodes counts."""
    thresholds = thresholds_of(params)
    counts = participant_counts(nodes, participants)
    conns, disconnected = counts["connections"], counts["disconnected sessions"]
    ok_c, avg_dc, avg_rc = side_balanced(conns, thresholds["abs_conn_threshold"], thresholds["rel_conn_threshold"], donors, recipients)
    ok_s, avg_ds, avg_rs = side_balanced(disconnected, thresholds["abs_sess_threshold"], thresholds["rel_sess_threshold"], donors, recipients)
    return {
        "balanced": ok_c and ok_s, "connections_balanced": ok_c, "sessions_balanced": ok_s,
        "connections": conns, "disconnected_sessions": disconnected,
        "donor_conn_avg": round(avg_dc, 2), "recipient_conn_avg": round(avg_rc, 2),
        "donor_disconnected_sess_avg": round(avg_ds, 2), "recipient_disconnected_sess_avg": round(avg_rs, 2),
        "thresholds": thresholds,
    }


def start_needed(nodes, participants, params):
    """Predict EMQX's nothing_to_balance: a rebalance is needed when connections or all sessions
    are unbalanced among the participants (section 3.2 step 1)."""
    thresholds = thresholds_of(params)
    conns = {n: (nodes.get(n) or {}).get("live_connections") or 0 for n in participants}
    sessions = {n: (nodes.get(n) or {}).get("sessions") or 0 for n in participants}
    donors, recipients = split_by_average(conns)
    if not donors or not recipients:
        return False
    ok_c = side_balanced(conns, thresholds["abs_conn_threshold"], thresholds["rel_conn_threshold"], donors, recipients)[0]
    ok_s = side_balanced(sessions, thresholds["abs_sess_threshold"], thresholds["rel_sess_threshold"], donors, recipients)[0]
    return not (ok_c and ok_s)


class Rebalance:
    def __init__(self, client, params, check_mode=False, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.api = EmqxApi(client)
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.node = params["node"]
        self.chosen = []
        self.limits = {}
        self.durations = {}

    def run(self):
        problems, durations = validate_rebalance(self.params)
        if problems:
            raise ValidationError("invalid options: " + "; ".join(problems), problems=problems)
        self.durations = durations
        self.client.connect()
        nodes = {n["name"]: n for n in self.api.nodes()}
        status = self.api.global_status()
        before = self.api.rebalance_of(self.node, status)
        result = {"coordinator": self.node, "api_version": self.client.version, "changed": False, "before": before}
        if self.params["state"] == "started":
            participants = self._participants(nodes, status, before)
            body = build_request(self.params, durations, participants)
            self.chosen, result["warnings"], self.limits = choose_rates(self.params, body, nodes)
            result["chosen_rates"] = {option: body[option] for option in self.chosen}
            result["request"] = body
            result["nodes"] = participants
            result.update(self._ensure_started(before, body, nodes))
        else:
            result.update(self._ensure_absent(before))
        result["diff"] = {"before": {"rebalance": before.get("state") if before else "disabled"},
                          "after": {"rebalance": result.pop("_after", "disabled")}}
        return result

    def _participants(self, nodes, status, running):
        problems = []
        coordinator = nodes.get(self.node)
        if coordinator is None:
            problems.append(unlisted("coordinator %s" % self.node, nodes, self.client.version))
        elif coordinator["status"] != "running":
            problems.append("coordinator %s is %s, not running" % (self.node, coordinator["status"]))
        evacuating = {e.get("node") for e in status["evacuations"]}
        busy = set()
        for other in status["rebalances"]:
            if other is not running:
                busy.update(other.get("donors") or [])
        requested = self.params.get("nodes")
        if requested:
            participants = list(requested)
            for name in participants:
                member = nodes.get(name)
                if member is None:
                    problems.append(unlisted("nodes: %s" % name, nodes, self.client.version))
                elif member["status"] != "running":
                    problems.append("nodes: %s is %s, not running" % (name, member["status"]))
                elif name in evacuating:
                    problems.append("nodes: %s is being evacuated and cannot take part in a rebalance" % name)
                elif name in busy:
                    problems.append("nodes: %s is a donor of another rebalance (eviction_agent_busy)" % name)
        else:
            # Pitfall 10: never let EMQX pick "all running nodes", which includes evacuating ones.
            participants = sorted(n for n, info in nodes.items()
                                  if info["status"] == "running" and n not in evacuating and n not in busy)
            if len(participants) < 2:
                problems.append("fewer than two running nodes that are not being evacuated: %s" % (participants or "none"))
        versions = {n: nodes[n].get("version") for n in participants + [self.node] if n in nodes}
        if self.client.login_info.get("version"):
            versions["the API node"] = self.client.login_info["version"]
        problems += version_problems("rebalance", self.params, self.client.version, versions, self.durations)
        if problems:
            raise ValidationError("cannot rebalance: %s" % "; ".join(problems), problems=problems)
        return participants

    def _ensure_started(self, before, body, nodes):
        out = {}
        if before is not None:
            # a running rebalance is compared with what was asked for, not with rates chosen from today's counts
            different = self._mismatches(before, {k: v for k, v in body.items() if k not in self.chosen})
            if different and not self.params.get("restart_on_change"):
                raise ValidationError("a rebalance coordinated by %s is already running (state %s) with other parameters: %s; "
                                      "set restart_on_change=true to stop and restart it" % (self.node, before.get("state"), "; ".join(different)),
                                      status=before)
            if not different:
                out["changed"] = False
                out["_after"] = before.get("state")
                if self.check_mode or not self.params.get("wait"):
                    out["status"] = before
                    return out
                out.update(self._wait_finished(body, before))
                return out
            if self.check_mode:
                out.update(changed=True, restarted=True, status=before, _after="wait_health_check")
                return out
            self._stop()
            out["restarted"] = True
        if self.check_mode:
            needed = start_needed(nodes, body["nodes"], self.params)
            out.update(changed=needed, nothing_to_balance=not needed, status=None,
                       _after="wait_health_check" if needed else "disabled")
            if not needed:
                out["rebalance_outcome"] = "balanced"
            return out
        try:
            self.api.start_rebalance(self.node, body)
            out["changed"] = True
        except ApiError as exc:
            reason = reason_of(exc)
            if reason == "nothing_to_balance":
                out.update(changed=bool(out.get("restarted")), nothing_to_balance=True, rebalance_outcome="balanced", status=None,
                           balance=balance_report({n["name"]: n for n in self.api.nodes()}, body["nodes"], self.params))
                return out
            if reason == "already_started":
                out["changed"] = bool(out.get("restarted"))
            elif is_rpc_error(exc) and self.api.rebalance_of(self.node) is not None:
                out["changed"] = True  # pitfall 12: it did start
            elif reason == "eviction_agent_busy" or is_rpc_error(exc):
                raise ApiError("cannot start the rebalance coordinated by %s: %s (a participant may be under evacuation or in "
                               "another rebalance)" % (self.node, exc.msg), method=exc.method, url=exc.url, status=exc.status,
                               code=exc.code, message=exc.message, body=exc.body)
            else:
                raise
        if not self.params.get("wait"):
            out["status"] = self.api.rebalance_of(self.node)
            out["_after"] = (out["status"] or {}).get("state", "disabled")
            return out
        out.update(self._wait_finished(body, None))
        return out

    @staticmethod
    def _mismatches(entry, body):
        out = []
        for option, field in (("conn_evict_rate", "connection_eviction_rate"), ("sess_evict_rate", "session_eviction_rate")):
            if option in body and entry.get(field) is not None and int(number(entry[field])) != int(body[option]):
                out.append("%s is %s, requested %s" % (option, entry[field], body[option]))
        running = set((entry.get("donors") or []) + (entry.get("recipients") or []))
        if running and set(body["nodes"]) != running:
            out.append("nodes are %s, requested %s" % (sorted(running), sorted(body["nodes"])))
        return out

    def _stop(self):
        try:
            self.api.stop_rebalance(self.node)
            return True
        except ApiError as exc:
            if reason_of(exc) == "not_started":
                return False
            if is_rpc_error(exc) and self.api.rebalance_of(self.node) is None:
                return True
            raise

    def _wait_finished(self, body, first_seen):
        seen = {"entry": first_seen}

        def fetch():
            entry = self.api.rebalance_of(self.node)
            if entry is not None:
                seen["entry"] = entry
            return entry

        def sample(entry, elapsed):
            entry = entry or {}
            return {"t": elapsed, "state": entry.get("state", "finished"), "donor_conn_avg": entry.get("donor_conn_avg"),
                    "connection_goal": entry.get("connection_goal"), "donor_sess_avg": entry.get("donor_sess_avg"),
                    "disconnected_session_goal": entry.get("disconnected_session_goal")}

        result = poll(fetch, lambda e: e is None, timeout=self.params["wait_timeout"], interval=self.params["poll_interval"],
                      sample=sample, transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                      describe=lambda e: "rebalance in state %s (donor average %s, goal %s)" % (
                          e.get("state"), e.get("donor_conn_avg", "not reported yet"), e.get("connection_goal", "not reported yet")))
        last = seen["entry"] or {}
        seen_states = {sample_["state"] for sample_ in result.samples}
        nodes = {n["name"]: n for n in self.api.nodes()}
        stopped = [n for n in body["nodes"] if (nodes.get(n) or {}).get("status") != "running"]
        # Judge with EMQX's own rule on the counts as they are now (donors re-derived from the
        # current averages, as a new start would): evicting faster than clients reconnect can
        # overshoot, leaving the former recipients overloaded while the old donor set looks fine.
        report = balance_report(nodes, [n for n in body["nodes"] if n not in stopped], self.params)
        out = {"status": None, "timeline": result.samples, "elapsed": result.elapsed, "balance": report, "_after": "disabled",
               "last_observed": last}
        takeover = body.get("wait_takeover", DEFAULT_WAIT_TAKEOVER)
        # A rebalance that finishes passes through wait_takeover (wait_takeover seconds long);
        # one that vanished straight from an earlier state while we polled faster was aborted,
        # even if the crashed node's clients, reconnecting elsewhere, make the counts look even.
        skipped_takeover = (last.get("state") in ("wait_health_check", "evicting_conns") and "wait_takeover" not in seen_states
                            and "evicting_sessions" not in seen_states and takeover > 2 * self.params["poll_interval"])
        if stopped or skipped_takeover:
            why = ("participant(s) %s stopped" % ", ".join(stopped)) if stopped else (
                "it vanished in state %s, without the %ss wait_takeover phase a finished rebalance goes through"
                % (last.get("state"), takeover))
            raise TerminalFailure(
                "the rebalance coordinated by %s disappeared from global_status: %s. EMQX reports an aborted rebalance "
                "exactly like a finished one; this one was aborted (last state seen: %s)" % (self.node, why, last.get("state", "unknown")),
                last=last, elapsed=result.elapsed, samples=result.samples, rebalance_outcome="aborted", balance=report)
        if not report["balanced"]:
            raise TerminalFailure(
                "the rebalance coordinated by %s finished, but by EMQX's own rule the cluster is still not balanced: connections "
                "%s, disconnected sessions %s. EMQX evicts conn_evict_rate (%s) from every donor above the goal each second, "
                "so its last second can overshoot; run it again with %s (or wider thresholds)"
                % (self.node, report["connections"], report["disconnected_sessions"], body.get("conn_evict_rate", EMQX_DEFAULT_EVICT_RATE),
                   "conn_evict_rate at most %s, what the counts at its start allowed" % self.limits["conn_evict_rate"]
                   if self.limits.get("conn_evict_rate") else "a lower conn_evict_rate"),
                last=last, elapsed=result.elapsed, samples=result.samples, rebalance_outcome="unbalanced", balance=report)
        out["rebalance_outcome"] = "balanced"
        return out

    def _ensure_absent(self, before):
        if before is None:
            return {"changed": False, "status": None}
        if self.check_mode:
            return {"changed": True, "status": before}
        changed = self._stop()
        out = {"changed": changed, "status": None}
        if self.params.get("wait"):
            result = poll(lambda: self.api.rebalance_of(self.node), lambda e: e is None, timeout=self.params["wait_timeout"],
                          interval=self.params["poll_interval"], transient=(ApiError,), clock=self.clock, sleep=self.sleep)
            out["elapsed"] = result.elapsed
        return out
