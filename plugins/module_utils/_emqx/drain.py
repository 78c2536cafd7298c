# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Following a drain to its end at a constant cost per observation.

The module ``emqx_drain_wait`` runs on the target and observes the cluster many times in one
run (``DrainObserver``); its action plugin on the controller runs it again and again, feeds the
observations to a ``DrainWatch`` (progress, an ETA that counts down, reconnects per second, a
time series of bounded size) and prints one progress line per run. Nothing here keeps more than
a fixed amount of state, however long the drain lasts."""

from __future__ import annotations

import collections
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import check_wait_params
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Countdown
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import NodeFailover
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.bluegreen import drain_progress, sample, thin

# Options of the drain itself; the connection options come from _emqx.module.CONNECTION_ARGS.
DRAIN_ARGS = dict(
    nodes=dict(type="list", elements="str", required=True),
    other_api_urls=dict(type="list", elements="str", default=[]),
    reconnect_budget=dict(type="int", required=True),
    session_budget=dict(type="int", required=True),
    wait_health_check=dict(type="float", default=0.0),
    wait_takeover=dict(type="float", default=0.0),
    wait_timeout=dict(type="int", default=3600),
    poll_interval=dict(type="float", default=2.0),
    progress_interval=dict(type="float", default=5.0),
    started_at=dict(type="float"),
    timeline_origin=dict(type="float"),
)

# Near the end, look at least this often so the end of the drain is seen promptly.
FAST_POLL = 0.5
# /nodes is read at most this often while every drained node has its evacuation listed: the
# evacuations say how far the drain is, the members' counts only feed the time series, and a
# node that stops drops out of the evacuations, which makes the next observation read /nodes.
NODES_EVERY = 1.0
# Longest time series one wait returns: one point a second, thinned evenly beyond this.
MAX_SAMPLES = 600
# Reconnects per second are measured over this many seconds of observations.
RATE_WINDOW = 5.0
# Controller time per observation is compared over this many observations at each end.
COST_WINDOW = 100


def drain_problems(params):
    """Problems with the drain options, in words (empty when fine)."""
    problems = check_wait_params(params)
    if not params.get("nodes"):
        problems.append("nodes must name at least one node to follow")
    for name in ("reconnect_budget", "session_budget", "progress_interval"):
        if params.get(name) is not None and params[name] <= 0:
            problems.append("%s must be positive, got %s" % (name, params[name]))
    for name in ("wait_health_check", "wait_takeover"):
        if params.get(name) is not None and params[name] < 0:
            problems.append("%s cannot be negative, got %s" % (name, params[name]))
    return problems


def poll_interval_for(eta_s, poll_interval):
    """The interval to the next observation: the configured one, or FAST_POLL near the end."""
    if eta_s is not None and eta_s <= 3 * poll_interval:
        return min(poll_interval, FAST_POLL)
    return poll_interval


def observation(info, drain_nodes, t):
    """What one look at the cluster must keep: every member's counts (for the time series) and the
    evacuations of the drained nodes (for the progress) - nothing else crosses to the controller."""
    wanted = set(drain_nodes)
    return {
        "t": round(t, 3),
        "nodes": [{"name": n.get("name"), "status": n.get("status"), "connections": n.get("connections"),
                   "sessions": n.get("sessions")} for n in info.get("nodes", [])],
        "evacuations": [{"node": e.get("node"), "state": e.get("state"), "stats": e.get("stats") or {}}
                        for e in info.get("evacuations", []) if e.get("node") in wanted],
    }


class DrainObserver:
    """One run of the module: observe every poll interval for up to ``progress_interval`` seconds
    (once in check mode), through ``api_url`` or, when it does not answer, ``other_api_urls``."""

    def __init__(self, client, params, client_factory, check_mode=False, clock=time.monotonic, sleep=time.sleep):
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.api = NodeFailover(client, params["api_url"], params["other_api_urls"], client_factory)
        self.nodes = None
        self.nodes_read_at = None

    def run(self):
        try:
            return self._run()
        finally:
            self.api.close()

    def _run(self):
        params = self.params
        problems = drain_problems(params)
        if problems:
            raise ValidationError("invalid options: " + "; ".join(problems), problems=problems)
        chunk = min(params["progress_interval"], params["wait_timeout"])
        start = self.clock()
        observations = []
        while True:
            info = self._read()
            observations.append(observation(info, params["nodes"], self.clock() - start))
            progress = drain_progress(info, params["nodes"], params["reconnect_budget"], params["session_budget"],
                                      params["wait_takeover"], params["wait_health_check"])
            if self.check_mode or progress["done"] or progress["stopped"]:
                break
            interval = poll_interval_for(progress["eta_s"], params["poll_interval"])
            if self.clock() - start + interval > chunk:
                break
            self.sleep(interval)
        return {"changed": False, "api_url": self.api.url, "api_version": self.api.version,
                "observations": observations, "elapsed": round(self.clock() - start, 3)}

    def _read(self):
        """global_status (and /nodes when due) through the node that answered last, else any other."""
        def read(api):
            info = api.global_status()
            if self._nodes_due(info):
                self.nodes, self.nodes_read_at = api.nodes(), self.clock()
            info["nodes"] = self.nodes
            return info

        return self.api.read(read)

    def _nodes_due(self, status):
        if self.nodes is None or self.clock() - self.nodes_read_at >= NODES_EVERY:
            return True
        listed = {e.get("node") for e in status["evacuations"]}
        return any(name not in listed for name in self.params["nodes"])


class DrainWatch:
    """Follows a drain observation by observation in constant memory: progress as in
    ``drain_progress``, an ETA that counts down between changes of the work left, reconnects per
    second over the last few seconds, and a time series of at most ``max_samples`` points."""

    def __init__(self, nodes, budget, session_budget, wait_health_check=0.0, wait_takeover=0.0,
                 max_samples=MAX_SAMPLES, sample_spacing=1.0, rate_window=RATE_WINDOW):
        self.nodes = list(nodes)
        self.budget = budget
        self.session_budget = session_budget
        self.wait_health_check = wait_health_check
        self.wait_takeover = wait_takeover
        self.max_samples = max_samples
        self.spacing = sample_spacing
        self.rate_window = rate_window
        self.observations = 0
        self.progress = None
        self.samples = []
        self._latest_point = None
        self._eta = Countdown()
        self._recent = collections.deque(maxlen=4096)

    def add(self, info, t):
        """Take one observation made ``t`` seconds after the timeline's origin; return the progress."""
        self.observations += 1
        progress = drain_progress(info, self.nodes, self.budget, self.session_budget, self.wait_takeover, self.wait_health_check)
        # EMQX refreshes its counters once a second and waits in whole phases: between two changes
        # of the work left the ETA runs down with the clock instead of standing still.
        work = (progress["remaining_connections"], progress["remaining_sessions"],
                tuple(v["state"] for v in progress["nodes"].values()))
        eta = self._eta(work, t, progress["eta_s"])
        progress["eta_s"] = 0.0 if progress["done"] else eta
        progress["reconnects_per_s"] = self._rate(t, progress["remaining_connections"])
        self._keep(sample(info, t))
        self.progress = progress
        return progress

    def _rate(self, t, remaining):
        recent = self._recent
        recent.append((t, remaining))
        while len(recent) > 2 and recent[1][0] <= t - self.rate_window:
            recent.popleft()
        t0, first = recent[0]
        return round(max(0, first - remaining) / (t - t0), 1) if t > t0 else 0.0

    def _keep(self, point):
        if not self.samples or point["t"] - self.samples[-1]["t"] >= self.spacing:
            self.samples.append(point)
            self._latest_point = None
            if len(self.samples) > self.max_samples:
                self.samples = thin(self.samples)
                self.spacing *= 2  # and sample half as often from now on
        else:
            self._latest_point = point

    def timeline(self):
        """The kept points plus the latest observation, so the series ends where the drain did."""
        return self.samples + ([self._latest_point] if self._latest_point else [])


class ObservationCost:
    """Wall time per observation as the controller sees it - from one observation to the next,
    with the module's start-ups in between - over the first and the last ``window`` observations.
    The first window counts from ``start``, before the first run, so it carries the first start-up."""

    def __init__(self, start, window=COST_WINDOW):
        self.start = start
        self.window = window
        self.observations = 0
        self._first = None
        self._recent = collections.deque(maxlen=window + 1)

    def add(self, at):
        """Count one observation made at controller time ``at``."""
        self.observations += 1
        self._recent.append(at)
        if self.observations == self.window:
            self._first = at - self.start

    def summary(self):
        count = self.observations
        if not count:
            return {"window": self.window, "first": None, "last": None}
        if count <= self.window:
            each = (self._recent[-1] - self.start) / count
            return {"window": self.window, "first": round(each, 4), "last": round(each, 4)}
        return {"window": self.window, "first": round(self._first / self.window, 4),
                "last": round((self._recent[-1] - self._recent[0]) / self.window, 4)}


def progress_line(progress, elapsed):
    """One line for the operator: how far, what is left on each node, how fast, how long."""
    nodes = ", ".join("%s %s %d/%d" % (name, v["state"], v["connections"] or 0, v["sessions"] or 0)
                      for name, v in progress["nodes"].items())
    text = "%s%% drained at %.1f s: %d connections and %d sessions left (node state connections/sessions: %s); %s reconnects/s; ETA %s s"
    return text % (progress["percent"], elapsed, progress["remaining_connections"], progress["remaining_sessions"], nodes,
                   progress["reconnects_per_s"], progress["eta_s"])
