# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Desired-state node evacuation: ``evacuated`` (started and, with wait, drained to
``prohibiting`` with no connections and no sessions left) or ``normal`` (no evacuation)."""

from __future__ import annotations

import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, TerminalFailure, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Countdown, poll
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import EmqxApi, is_rpc_error, reason_of, unlisted
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.features import version_problems
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.validate import MAX_START_AHEAD, validate_evacuation

DEFAULT_RATE = 500
DEFAULT_WAIT_TAKEOVER = 60
DEFAULT_WAIT_HEALTH_CHECK = 60


def build_request(params, durations):
    """The evacuation/start body: only what the user set, so EMQX's own defaults apply otherwise."""
    body = {}
    for name in ("conn_evict_rate", "sess_evict_rate", "redirect_to", "migrate_to"):
        if params.get(name) is not None:
            body[name] = params[name]
    for name in ("wait_health_check", "wait_takeover"):
        if name in durations:
            # Whole seconds: both API lines accept integers, only 5.x accepts "10s" strings.
            body[name] = int(round(durations[name]))
    return body


def mismatches(entry, body, can_receive=None):
    """Differences between a running evacuation and the requested one (only visible fields).

    EMQX keeps the migrate_to an evacuation started with, but session_recipients shows only those
    of them that can take sessions at the moment of the status call (emqx_node_rebalance_evacuation.erl
    works it out again on every call). A requested node missing from it while it is stopped or
    itself evacuating is therefore no difference; one missing while it could take sessions is.
    ``can_receive``: the nodes that could take sessions now (None: compare what is shown as is)."""
    out = []
    pairs = (("conn_evict_rate", "connection_eviction_rate"), ("sess_evict_rate", "session_eviction_rate"))
    for option, field in pairs:
        if option in body and entry.get(field) is not None and int(entry[field]) != int(body[option]):
            out.append("%s is %s, requested %s" % (option, entry[field], body[option]))
    if "migrate_to" in body and entry.get("session_recipients") is not None:
        shown, requested = set(entry["session_recipients"]), set(body["migrate_to"])
        hidden = requested - shown
        if can_receive is not None:
            hidden &= set(can_receive)
        if shown - requested or hidden:
            out.append("migrate_to is %s, requested %s" % (sorted(shown), sorted(requested)))
    return out


def can_receive_sessions(nodes, status, node):
    """The members other than ``node`` that could take its sessions now: running, and with their own
    eviction agent off (not evacuated, not a rebalance donor, not purged)."""
    busy = {e.get("node") for e in status.get("evacuations") or []}
    busy |= {p.get("node") for p in status.get("purges") or []}
    for rebalance in status.get("rebalances") or []:
        busy |= set(rebalance.get("donors") or [])
    return [name for name, info in nodes.items() if name != node and info.get("status") == "running" and name not in busy]


def stats_of(entry):
    stats = (entry or {}).get("stats") or {}
    return stats.get("current_connected"), stats.get("current_sessions")


def drained(entry):
    """Pitfall 1: evacuation never ends by itself; 'prohibiting' with nothing left means drained."""
    if not entry or entry.get("state") != "prohibiting":
        return False
    conns, sessions = stats_of(entry)
    return not conns and not sessions


def estimate_eta(entry, body):
    """Seconds left from the configured rates and what remains (an upper bound for sessions,
    since reconnecting clients take most of their sessions with them)."""
    if not entry:
        return None
    conns, sessions = stats_of(entry)
    conns, sessions = conns or 0, sessions or 0
    conn_rate = entry.get("connection_eviction_rate") or body.get("conn_evict_rate") or DEFAULT_RATE
    sess_rate = entry.get("session_eviction_rate") or body.get("sess_evict_rate") or DEFAULT_RATE
    takeover = body.get("wait_takeover", DEFAULT_WAIT_TAKEOVER)
    state = entry.get("state")
    if state == "prohibiting":
        return 0.0
    if state == "waiting_health_check":
        return round(body.get("wait_health_check", DEFAULT_WAIT_HEALTH_CHECK) + conns / float(conn_rate) + takeover
                     + max(0, sessions - conns) / float(sess_rate), 1)
    if state == "evicting_sessions":
        return round(sessions / float(sess_rate), 1)
    if state == "waiting_takeover":
        return round(takeover + max(0, sessions - conns) / float(sess_rate), 1)
    return round(conns / float(conn_rate) + takeover + max(0, sessions - conns) / float(sess_rate), 1)


class Evacuation:
    def __init__(self, client, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, wall=time.time):
        self.client = client
        self.api = EmqxApi(client)
        self.wall = wall
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.node = params["node"]
        self.started_at = None
        self.durations = {}

    def run(self):
        problems, durations = validate_evacuation(self.params, now=self.wall)
        if problems:
            raise ValidationError("invalid options: " + "; ".join(problems), problems=problems)
        self.durations = durations
        self.client.connect()
        nodes = {n["name"]: n for n in self.api.nodes()}
        status = self.api.global_status()
        before = self.api.evacuation_of(self.node, status)
        result = {"node": self.node, "api_version": self.client.version, "changed": False, "before": before}
        if self.params["state"] == "evacuated":
            self._preflight(nodes, status, already_running=before is not None)
            body = build_request(self.params, durations)
            result["request"] = body
            result.update(self._ensure_evacuated(before, body, can_receive_sessions(nodes, status, self.node)))
        else:
            result.update(self._ensure_normal(before, nodes))
        result["node_info"] = nodes.get(self.node)
        result["diff"] = {"before": {"evacuation": before.get("state") if before else "disabled"},
                          "after": {"evacuation": self._after_state(result)}}
        return result

    def _after_state(self, result):
        if result.get("status"):
            return result["status"].get("state")
        if self.check_mode and result.get("changed") and self.params["state"] == "evacuated":
            return "waiting_health_check"
        return "disabled"

    # ---- evacuated ---------------------------------------------------------------------------

    def _preflight(self, nodes, status, already_running=False):
        """Everything that can be known to fail is checked before the POST. A recipient that is down
        or evacuating for now does not stop a start, only when nothing is running yet: EMQX skips
        such recipients of a running evacuation until they can take sessions again."""
        problems = []
        target = nodes.get(self.node)
        if target is None:
            problems.append(unlisted("node %s" % self.node, nodes, self.client.version))
        elif target["status"] != "running":
            problems.append("node %s is %s, not running; an evacuation can only start on a running node" % (self.node, target["status"]))
        for name in self.params.get("migrate_to") or []:
            member = nodes.get(name)
            if member is None:
                problems.append(unlisted("migrate_to: %s" % name, nodes, self.client.version))
            elif already_running:
                continue
            elif member["status"] != "running":
                problems.append("migrate_to: %s is %s, not running" % (name, member["status"]))
            elif self.api.evacuation_of(name, status):
                problems.append("migrate_to: %s is itself being evacuated and cannot receive sessions" % name)
        for rebalance in status["rebalances"]:
            if self.node in (rebalance.get("donors") or []):
                problems.append("node %s is a donor of the rebalance coordinated by %s (eviction_agent_busy); stop that rebalance first"
                                % (self.node, rebalance.get("node")))
        if status["purges"] and any(p.get("node") == self.node for p in status["purges"]):
            problems.append("node %s is being purged (eviction_agent_busy)" % self.node)
        if not self.params.get("migrate_to"):
            others = [n for n, info in nodes.items() if n != self.node and info["status"] == "running"
                      and not self.api.evacuation_of(n, status)]
            if not others:
                problems.append("no other running node can receive the sessions of %s; evacuation would wait forever" % self.node)
        versions = {}
        if target is not None:
            versions[self.node] = target.get("version")
        if self.client.login_info.get("version"):
            versions["the API node"] = self.client.login_info["version"]
        problems += version_problems("evacuation", self.params, self.client.version, versions, self.durations)
        if problems:
            raise ValidationError("cannot evacuate %s: %s" % (self.node, "; ".join(problems)), problems=problems)

    def _ensure_evacuated(self, before, body, can_receive):
        out = {}
        changed = False
        if before is not None:
            different = mismatches(before, body, can_receive)
            if different and not self.params.get("restart_on_change"):
                raise ValidationError(
                    "an evacuation of %s is already running (state %s) with other parameters: %s; set restart_on_change=true "
                    "to stop and restart it" % (self.node, before.get("state"), "; ".join(different)), status=before)
            if different:
                changed = True
                out["restarted"] = True
                if not self.check_mode:
                    self._hold_until_start_at()
                    self._stop()
                    self._start(body)
        else:
            changed = True
            if not self.check_mode:
                self._hold_until_start_at()
                changed = self._start(body)
        out["changed"] = changed
        if self.check_mode:
            out["check_mode_prediction"] = changed
            out["status"] = before
            return out
        if changed and self.started_at:
            out["started_at"] = round(self.started_at, 3)
        if self.params.get("wait"):
            out.update(self._wait_drained(body))
        else:
            out["status"] = self.api.evacuation_of(self.node)
        return out

    def _hold_until_start_at(self):
        if self.params.get("start_at") is not None:
            self.sleep(max(0.0, min(self.params["start_at"] - self.wall(), MAX_START_AHEAD)))

    def _start(self, body):
        """POST start; True when this call started it, False when it was already running."""
        try:
            self.started_at = self.wall()
            self.api.start_evacuation(self.node, body)
            return True
        except ApiError as exc:
            reason = reason_of(exc)
            if reason == "already_started":
                return False
            if reason == "eviction_agent_busy":
                raise ApiError("cannot evacuate %s: its eviction agent is busy (a rebalance or purge holds it): %s" % (self.node, exc.msg),
                               method=exc.method, url=exc.url, status=exc.status, code=exc.code, message=exc.message, body=exc.body)
            if exc.status == 404:
                raise ApiError("cannot evacuate %s: EMQX does not know this node (%s)" % (self.node, exc.message),
                               method=exc.method, url=exc.url, status=exc.status, code=exc.code, message=exc.message, body=exc.body)
            if is_rpc_error(exc):
                # Pitfall 12: the evacuation may have started anyway; the cluster knows.
                if self.api.evacuation_of(self.node) is not None:
                    return True
            raise

    def _stop(self):
        try:
            self.api.stop_evacuation(self.node)
            return True
        except ApiError as exc:
            if reason_of(exc) == "not_started":
                return False
            if is_rpc_error(exc) and self.api.evacuation_of(self.node) is None:
                return True
            raise

    def _observe(self):
        nodes = {n["name"]: n for n in self.api.nodes()}
        return {"entry": self.api.evacuation_of(self.node), "nodes": nodes}

    def _wait_drained(self, body):
        recipients = body.get("migrate_to")

        def failed(observed):
            node = observed["nodes"].get(self.node)
            if node is None or node["status"] != "running":
                return ("node %s stopped while being evacuated (status %s); EMQX resumes the evacuation when it restarts "
                        "(with migrate_to reset to all nodes) - re-run to continue waiting"
                        % (self.node, node["status"] if node else "gone"))
            entry = observed["entry"]
            if entry is None:
                return "the evacuation of %s was stopped by someone else (it is no longer in global_status)" % self.node
            if entry.get("state") == "evicting_sessions":
                targets = recipients or entry.get("session_recipients") or []
                if targets and not any(observed["nodes"].get(t, {}).get("status") == "running" for t in targets):
                    return ("none of the session recipients %s is running: EMQX would retry every 30 s forever (%s sessions left)"
                            % (targets, stats_of(entry)[1]))
            return None

        countdown = Countdown()

        def sample(observed, elapsed):
            entry = observed["entry"] or {}
            conns, sessions = stats_of(entry)
            eta = countdown((entry.get("state"), conns, sessions), elapsed, estimate_eta(entry, body))
            return {"t": elapsed, "state": entry.get("state"), "connections": conns, "sessions": sessions, "eta_s": eta}

        def describe(observed):
            entry = observed["entry"] or {}
            conns, sessions = stats_of(entry)
            return "state %s, %s connections and %s sessions left" % (entry.get("state", "absent"), conns, sessions)

        result = poll(self._observe, lambda o: drained(o["entry"]), failed=failed, timeout=self.params["wait_timeout"],
                      interval=self.params["poll_interval"], describe=describe, sample=sample, transient=(ApiError,),
                      clock=self.clock, sleep=self.sleep)
        # wall-clock time of the observation that found the node drained, for run reports
        return {"status": result.value["entry"], "timeline": result.samples, "elapsed": result.elapsed, "eta_s": 0.0,
                "drained_at": round(time.time(), 3)}

    # ---- normal ------------------------------------------------------------------------------

    def _ensure_normal(self, before, nodes):
        target = nodes.get(self.node)
        if before is None:
            if target is not None and target["status"] != "running":
                raise TerminalFailure(
                    "node %s is %s: a persisted evacuation cannot be seen or stopped until it runs again "
                    "(it would resume refusing connections when it starts)" % (self.node, target["status"]))
            if target is None:
                raise ValidationError(unlisted("node %s" % self.node, nodes, self.client.version))
            return {"changed": False, "status": None}
        if self.check_mode:
            return {"changed": True, "status": before, "check_mode_prediction": True}
        changed = self._stop()
        out = {"changed": changed}
        if self.params.get("wait"):
            result = poll(lambda: self.api.evacuation_of(self.node), lambda e: e is None, timeout=self.params["wait_timeout"],
                          interval=self.params["poll_interval"], transient=(ApiError,), clock=self.clock, sleep=self.sleep,
                          describe=lambda e: "evacuation still listed in state %s" % e.get("state"))
            out["elapsed"] = result.elapsed
        out["status"] = None
        return out
