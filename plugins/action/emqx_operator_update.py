# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of emqx_operator_update (documented with the module of the same name).

A module cannot print while it runs, and the operator's blue-green update takes minutes. So
when the task waits, this action runs the module on the target again and again - through the
task's connection, so delegate_to applies - each run waiting for up to progress_interval
seconds, and prints one progress line per run through Ansible's display. The first run patches
the spec; it hands the state of its wait (a few values, whatever the length of the wait) to the
next run, which only observes and goes on with the same deadline and stall clock. The runs'
results are joined into the one result the module returns when it waits in one run (the
timeline as bounded as there). Check mode, wait=false and async run the module once."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import (
    WAIT_ARGS, check_wait_params, merge_specs, validate_own_options)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.update import update_problems
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.update_progress import (
    UpdateProgress,
    merge_timeline,
)

display = Display()

MODULE = "zerodowntime.cluster.emqx_operator_update"
# The options the controller needs to slice the wait (the module checks all of them again).
SLICE_ARGS = merge_specs(WAIT_ARGS, dict(
    name=dict(type="str"),
    namespace=dict(type="str", default="default"),
    stall_timeout=dict(type="int", default=300),
    progress_interval=dict(type="float", default=10.0),
))
# What only the runs of one wait need, never in the task's result.
INTERNAL = ("wait_slice",)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_async = True

    # Seams for the unit tests (a fake clock); the module runs on its own clock on the target.
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = {k: v for k, v in self._task.args.items() if k not in INTERNAL}
        params, errors = validate_own_options(SLICE_ARGS, args)
        if errors:
            return dict(result, failed=True, msg="invalid options: " + "; ".join(errors))
        if self._task.async_val or self._task.check_mode or not params["wait"]:
            # nothing to follow: the module as it is, in one run
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            return merge_hash(result, self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars,
                                                           wrap_async=wrap_async))
        problems = check_wait_params(params) + update_problems(params)
        if problems:
            return dict(result, failed=True, msg="; ".join(problems))
        return merge_hash(result, Follower(self, args, params, task_vars).follow())


class Follower:
    """One supervised update: runs the module until its wait ends, one progress line per run."""

    def __init__(self, action, args, params, task_vars):
        self.action = action
        self.args = args
        self.params = params
        self.task_vars = task_vars
        self.progress = UpdateProgress("EMQX %s/%s" % (params["namespace"], params["name"]))
        self.first = None
        self.origin = None  # controller time the wait began (after the first run's patch)
        self.start_up = 0.0  # the last run's time before its wait began, and its return
        self.timeline = []
        self.evacuated = set()
        self.stopped = []
        self.api_errors = []
        self.warnings = []
        self.deprecations = []
        self.runs = 0

    def follow(self):
        wait_slice = {"elapsed": 0.0, "remaining": float(self.params["wait_timeout"])}
        while True:
            sent = self.action.clock()
            answer = self.action._execute_module(module_name=MODULE, module_args=self._module_args(wait_slice),
                                                 task_vars=self.task_vars)
            received = self.action.clock()
            self.runs += 1
            self._take(answer)
            handed = answer.get("wait_slice")
            if answer.get("failed") or not handed:
                # failed, or nothing to wait for (already as desired and Ready): the first run's answer says it all
                return self._result(answer)
            run_s = float(handed.get("run_s") or 0.0)
            if self.origin is None:
                self.origin = received - run_s
            self.start_up = max(0.0, received - sent - run_s)
            if handed.get("progress"):
                display.display(self.progress.line(handed["progress"], float(answer.get("elapsed") or 0.0)))
            elif handed.get("error"):
                display.display("%s: the Kubernetes API did not answer (%s); still waiting, %.1f s elapsed"
                                % (self.progress.where, handed["error"], float(answer.get("elapsed") or 0.0)))
            if not handed.get("state"):
                return self._result(answer)
            # The next run's first look comes one poll interval after this run's last one; the start-up of
            # a run (the rest of the round trip) is part of that interval.
            remaining = self.origin + self.params["wait_timeout"] - self.action.clock()
            pause = min(self.params["poll_interval"] - self.start_up, remaining - self.start_up)
            if pause > 0:
                self.action.sleep(pause)
            now = self.action.clock()
            wait_slice = {"elapsed": round(now - self.origin + self.start_up, 3),
                          "remaining": round(max(0.0, self.origin + self.params["wait_timeout"] - now - self.start_up), 3),
                          "state": handed["state"]}

    def _module_args(self, wait_slice):
        module_args = dict(self.args, wait_slice=wait_slice)
        version = (self.first or {}).get("api_version")
        if version and self.args.get("api_version", "auto") == "auto":
            # later runs need not find out again which version the cluster serves
            module_args["api_version"] = version.rpartition("/")[2]
        return module_args

    def _take(self, answer):
        """Keep what one run adds to the wait's result."""
        if self.first is None:
            self.first = answer
        self.warnings.extend(w for w in answer.get("warnings") or [] if w not in self.warnings)
        self.deprecations.extend(answer.get("deprecations") or [])
        self.timeline = merge_timeline(self.timeline, answer.get("timeline") or [])
        self.evacuated.update(answer.get("evacuated_nodes") or [])
        self.stopped.extend(answer.get("stopped_evacuations") or [])
        for error in answer.get("evacuation_api_errors") or []:
            if not self.api_errors or self.api_errors[-1]["error"] != error.get("error"):
                self.api_errors.append(error)

    def _result(self, last):
        """One result, shaped as the module's own when it waits in one run."""
        if last is self.first:
            out = {k: v for k, v in last.items() if k not in INTERNAL}
        else:
            out = dict(last)
            for key in ("changed_fields", "blue_green", "before", "hazards", "diff", "api_version"):
                if key in self.first and not last.get("failed"):
                    out[key] = self.first[key]
            for key in INTERNAL:
                out.pop(key, None)
            out["changed"] = bool(self.first.get("changed"))  # the first run patched; the others only observed
            if "invocation" in self.first:
                out["invocation"] = self.first["invocation"]
            if self.timeline or "timeline" in out:
                out["timeline"] = self.timeline
            if "evacuated_nodes" in out:
                out["evacuated_nodes"] = sorted(self.evacuated)
            if "stopped_evacuations" in out:
                out["stopped_evacuations"] = self.stopped
            if "evacuation_api_errors" in out:
                out["evacuation_api_errors"] = self.api_errors
        invocation = out.get("invocation")
        if isinstance(invocation, dict) and isinstance(invocation.get("module_args"), dict):
            out["invocation"] = dict(invocation, module_args={k: v for k, v in invocation["module_args"].items() if k not in INTERNAL})
        if self.warnings:
            out["warnings"] = self.warnings
        if self.deprecations:
            out["deprecations"] = self.deprecations
        return out
