# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stdout callback: print every task result as one JSON document at the end
(ansible-core no longer ships a json callback and the tests must not need other collections)."""
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: results_json
type: stdout
short_description: all task results as one JSON document
description: Test helper of the Kilda integration tests.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self):
        super().__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task(self, task):
        if not self.plays:
            self.plays.append({"play": {"name": "adhoc"}, "tasks": []})
        tasks = self.plays[-1]["tasks"]
        if not tasks or tasks[-1]["task"]["uuid"] != task._uuid:
            tasks.append({"task": {"name": task.get_name(), "uuid": task._uuid}, "hosts": {}})
        return tasks[-1]

    def _record(self, result, **extra):
        entry = self._task(result._task)
        data = dict(result._result)
        data.update(extra)
        data.pop("invocation", None)
        entry["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True, ignore_errors=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True, failed=True)

    def v2_playbook_on_stats(self, stats):
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, default=str))
