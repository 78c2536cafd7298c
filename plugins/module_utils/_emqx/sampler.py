# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The cluster read once a second for the picture of a whole run, whatever the procedure's own
poll cadence: connections and sessions per running node. Meant to run as an async task beside
the procedure, until a stop file appears, a time limit passes or no node has answered for a while
(a run killed half way leaves no sampler behind for longer than that)."""

from __future__ import annotations

import os
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import NodeFailover
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.bluegreen import sample, thin

# Two hours at one sample a second; a longer run keeps every other point and samples half as often.
MAX_SAMPLES = 7200


def reconnect_rates(samples):
    """Clients arriving per second between consecutive samples: the sum over nodes of each node's rise
    in connected clients (evicted clients come back on other nodes; a node's fall is not an arrival)."""
    out = []
    for before, after in zip(samples, samples[1:]):
        span = float(after["t"]) - float(before["t"])
        if span <= 0:
            continue
        rises = sum(max(0, count - before["connections"].get(node, 0)) for node, count in after["connections"].items())
        out.append({"t": after["t"], "per_s": round(rises / span, 1)})
    return out


class Sampler:
    def __init__(self, client, params, client_factory, clock=time.monotonic, wall=time.time, sleep=time.sleep,
                 exists=os.path.exists):
        self.params = params
        self.api = NodeFailover(client, params["api_url"], params["other_api_urls"], client_factory)
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self.exists = exists

    def run(self):
        try:
            return self._run()
        finally:
            self.api.close()

    def _run(self):
        params = self.params
        problems = [name + " must be greater than 0" for name in ("interval", "max_duration", "give_up_after")
                    if not params[name] > 0]
        if problems:
            raise ValidationError("invalid options: " + "; ".join(problems), problems=problems)
        origin = params["origin"] if params["origin"] is not None else self.wall()
        start = self.clock()
        interval = float(params["interval"])
        samples, errors = [], []
        last_answer = start
        next_at = start
        while True:
            now = self.clock()
            if self.exists(params["stop_file"]):
                stopped_by = "stop_file"
                break
            if now - start >= params["max_duration"]:
                stopped_by = "max_duration"
                break
            if now - last_answer >= params["give_up_after"]:
                stopped_by = "give_up_after"
                break
            try:
                nodes = self.api.read(lambda api: api.nodes())
            except ApiError as exc:
                if not errors or errors[-1]["error"] != exc.msg:
                    errors.append({"t": round(self.wall() - origin, 1), "error": exc.msg})
            else:
                last_answer = self.clock()
                samples.append(sample({"nodes": nodes}, self.wall() - origin))
                if len(samples) > MAX_SAMPLES:
                    samples = thin(samples)
                    interval *= 2
            next_at += interval
            self.sleep(max(0.0, next_at - self.clock()))
        return {"changed": False, "api_version": self.api.version, "samples": samples, "interval": interval, "stopped_by": stopped_by, "errors": errors,
                "reconnects_per_s": reconnect_rates(samples)}
