# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of emqx_drain_wait (documented with the module of the same name).

A module cannot print while it runs, and a task file that includes itself once per observation
nests deeper every time (Ansible gives up at a few hundred levels, and each level costs more than
the last). So this action runs the module on the target again and again - through the task's
connection, so delegate_to applies - each run observing for up to progress_interval seconds,
and prints one progress line per run through Ansible's display. Per run it keeps only the
DrainWatch (bounded) and a few numbers: the cost per observation stays flat."""

from __future__ import annotations

import resource
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import validate_own_options
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Deadline
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.drain import (
    DRAIN_ARGS,
    DrainWatch,
    ObservationCost,
    drain_problems,
    poll_interval_for,
    progress_line,
)

display = Display()

MODULE = "zerodowntime.cluster.emqx_drain_wait"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    # Seams for the unit tests (a fake clock); the module runs on its own clock on the target.
    clock = staticmethod(time.monotonic)
    wall = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    @staticmethod
    def cpu():
        """CPU seconds of this worker and of the processes it waited for (the module runs, or ssh)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        params, errors = validate_own_options(DRAIN_ARGS, args)
        if errors:
            return dict(result, failed=True, msg="invalid options: " + "; ".join(errors))
        problems = drain_problems(params)
        if problems:
            return dict(result, failed=True, msg="invalid options: " + "; ".join(problems), problems=problems)
        return dict(result, **Follower(self, args, params, task_vars).follow())


class Follower:
    """One wait: runs the module until the drain is done, a drained node stopped, or the deadline."""

    def __init__(self, action, args, params, task_vars):
        self.action = action
        self.args = args
        self.params = params
        self.task_vars = task_vars
        self.check_mode = bool(action._task.check_mode)
        # One reading of both clocks maps monotonic times (immune to clock steps) to Unix time.
        self.mono0, self.wall0 = action.clock(), action.wall()
        self.started_at = params["started_at"] if params["started_at"] is not None else self.wall0
        self.origin = params["timeline_origin"] if params["timeline_origin"] is not None else self.started_at
        self.deadline = Deadline(params["wait_timeout"] - (self.wall0 - self.started_at), clock=action.clock)
        self.watch = DrainWatch(params["nodes"], params["reconnect_budget"], params["session_budget"],
                                params["wait_health_check"], params["wait_takeover"])
        self.cost = ObservationCost(self.mono0)
        self.cpu0 = action.cpu()
        self.first_url = args.get("api_url")
        self.url = self.first_url
        self.api_version = None
        self.runs = 0
        self.elapsed = 0.0
        self.drained_at = None

    def unix(self, mono):
        return self.wall0 + (mono - self.mono0)

    def follow(self):
        while True:
            sent = self.action.clock()
            answer = self.action._execute_module(module_name=MODULE, module_args=self._module_args(), task_vars=self.task_vars)
            received = self.action.clock()
            self.runs += 1
            observations = answer.get("observations") or []
            if answer.get("failed") or not observations:
                details = {k: v for k, v in answer.items() if k not in ("observations", "invocation", "changed", "failed")}
                return self._result(failed=True, **dict(details, msg=answer.get("msg") or "the module returned no observation"))
            self.url = answer.get("api_url") or self.url
            # later runs need not find out again which API the cluster speaks
            self.api_version = answer.get("api_version") or self.api_version
            last_at = self._take(observations, received - float(answer.get("elapsed") or 0.0))
            progress = self.watch.progress
            display.display(progress_line(progress, self.elapsed))
            if progress["done"]:
                return self._result()
            if progress["stopped"]:
                return self._result(failed=True, msg=(
                    "%s left the cluster while being drained (stopped, or cut off from the other nodes): sessions it "
                    "still held are lost. Bring it back - start it again, or mend the network (EMQX's autoheal then "
                    "restarts it) - and run again: the evacuation resumes when it restarts." % ", ".join(progress["stopped"])))
            if self.check_mode:
                return self._result()
            if self.deadline.expired():
                return self._result(failed=True, msg="The drain did not finish within %s s; last progress: %s"
                                    % (self.params["wait_timeout"], progress))
            # Start the next run so that its first observation comes one interval after the last one;
            # the module's start-up (the rest of the round trip) is part of that interval.
            start_up = max(0.0, received - sent - float(answer.get("elapsed") or 0.0))
            interval = poll_interval_for(progress["eta_s"], self.params["poll_interval"])
            pause = min(interval - (self.action.clock() - last_at) - start_up, self.deadline.remaining())
            if pause > 0:
                self.action.sleep(pause)

    def _module_args(self):
        module_args = dict(self.args, progress_interval=max(0.001, min(self.params["progress_interval"], self.deadline.remaining())))
        if self.api_version and self.args.get("api_version", "auto") == "auto":
            module_args["api_version"] = self.api_version
        if self.url:
            others = [self.first_url] + list(self.params["other_api_urls"])
            module_args.update(api_url=self.url, other_api_urls=[u for u in dict.fromkeys(others) if u and u != self.url])
        return module_args

    def _take(self, observations, run_start):
        """Feed one run's observations to the watch, at the controller times they were made."""
        at = run_start
        for item in observations:
            at = run_start + float(item.get("t") or 0.0)
            progress = self.watch.add(item, self.unix(at) - self.origin)
            self.cost.add(at)
            if progress["done"] and self.drained_at is None:
                self.drained_at = round(self.unix(at), 3)
        self.elapsed = round(self.unix(at) - self.started_at, 1)
        return at

    def _result(self, failed=False, **extra):
        cost = self.cost.summary()
        watch = self.watch
        if watch.observations and not failed:
            display.display("%s after %d observations in %d module runs; controller seconds per observation: first %s %s, last %s %s"
                            % ("drained" if watch.progress["done"] else "not drained (check mode)", watch.observations,
                               self.runs, cost["window"], cost["first"], cost["window"], cost["last"]))
        cpu = self.action.cpu() - self.cpu0
        out = dict(changed=False, done=bool(watch.progress and watch.progress["done"]), waited=not self.check_mode,
                   progress=watch.progress or {}, elapsed=self.elapsed, api_url=self.url, samples=watch.timeline(),
                   observations=watch.observations, module_runs=self.runs, seconds_per_observation=cost,
                   cpu_seconds=round(cpu, 3),
                   cpu_seconds_per_observation=round(cpu / watch.observations, 4) if watch.observations else None)
        if self.drained_at is not None:
            out["drained_at"] = self.drained_at
        if self.api_version:
            out["api_version"] = self.api_version
        if failed:
            out["failed"] = True
        out.update(extra)
        return out
