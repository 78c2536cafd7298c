"""emqx_operator_update prints where the operator's blue-green update stands while it waits: its
action plugin runs the module in slices of progress_interval seconds - the first run patches, the
later ones only observe and go on with the same deadline and stall clock - prints one progress
line per run with an ETA that counts down, and returns the one result the module returns when it
waits in one run."""
import functools
import json
import re
import types

import pytest

pytest.importorskip("kubernetes")

from ansible_collections.zerodowntime.cluster.plugins.action import emqx_operator_update as action_mod  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import update as logic  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import update_progress  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_operator_update as module  # noqa: E402
from module_args_compat import patch_module_args  # noqa: E402  pylint: disable=import-error
from operator_fakes import Clock  # noqa: E402  pylint: disable=import-error

pytestmark = pytest.mark.timeout(20)

STRATEGY = {"initial_delay_seconds": 2, "conn_evict_rate": 15, "sess_evict_rate": 15, "wait_takeover": 2, "wait_health_check": 4}
SPEC_STRATEGY = {"initialDelaySeconds": 2,
                 "evacuationStrategy": {"connEvictRate": 15, "sessEvictRate": 15, "waitTakeover": 2, "waitHealthCheck": 4}}
BLUE = ["blue-2", "blue-1"]  # the operator evacuates the highest ordinal first
GREEN = ["green-1", "green-2"]
# seconds after the patch: Ready is stale until 2, new pods start until 8, Available, 2 s initial delay,
# then each old pod takes 11 s (4 s health check, 2 s connections, 2 s takeover, 2 s sessions, 1 s prohibiting)
POD_S = 11
FIRST_EVACUATION = 10
READY_AT = FIRST_EVACUATION + 2 * POD_S + 1  # 33


def evacuation(node, since):
    """The evacuation of ``node`` ``since`` seconds after it started (30 clients, 30 sessions)."""
    if since < 4:
        state, conns, sessions = "waiting_health_check", 30, 30
    elif since < 6:
        state, conns, sessions = "evicting_conns", 30 - 15 * int(since - 3), 30
    elif since < 8:
        state, conns, sessions = "waiting_takeover", 0, 30
    elif since < 10:
        state, conns, sessions = "evicting_sessions", 0, 30 - 15 * int(since - 7)
    else:
        state, conns, sessions = "prohibiting", 0, 0
    return {"node": node, "state": state, "stats": {"initial_connected": 30, "initial_sessions": 30,
                                                    "current_connected": max(0, conns), "current_sessions": max(0, sessions)}}


def node(name, clients=30):
    return {"node": name, "node_status": "running", "connections": clients, "live_connections": clients}


def status_at(t):
    """The status the operator writes ``t`` seconds after the patch (None: before the patch)."""
    if t is None or t < 2:
        return {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Available", "status": "True"}],
                "coreNodesStatus": {"currentRevision": "a", "updateRevision": "a", "replicas": 2, "readyReplicas": 2,
                                    "currentReplicas": 2, "updateReplicas": 2},
                "coreNodes": [node(n) for n in BLUE], "nodeEvacuationsStatus": []}
    if t >= READY_AT:
        return {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Available", "status": "True"}],
                "coreNodesStatus": {"currentRevision": "b", "updateRevision": "b", "replicas": 2, "readyReplicas": 2,
                                    "currentReplicas": 2, "updateReplicas": 2},
                "coreNodes": [node(n) for n in GREEN], "nodeEvacuationsStatus": []}
    new = 0 if t < 5 else (1 if t < 8 else 2)
    gone = [BLUE[i] for i in range(2) if t >= FIRST_EVACUATION + (i + 1) * POD_S]
    old = [n for n in BLUE if n not in gone]
    evacuations = []
    for i, name in enumerate(BLUE):
        since = t - (FIRST_EVACUATION + i * POD_S)
        if name in old and since >= 0:
            evacuations.append(evacuation(name, since))
    conditions = [{"type": "CoreNodesProgressing", "status": "True", "message": "%d/2 new core nodes ready" % new}]
    if new == 2:
        conditions = [{"type": "Available", "status": "True"}, {"type": "CoreNodesReady", "status": "True"}]
    return {"conditions": conditions,
            "coreNodesStatus": {"currentRevision": "a", "updateRevision": "b", "replicas": 2, "readyReplicas": 2,
                                "currentReplicas": len(old), "updateReplicas": new},
            "coreNodes": [node(n) for n in old] + [node(n, 0) for n in GREEN[:new]], "nodeEvacuationsStatus": evacuations}


class Operator:
    """The EMQX resource as the API server returns it, with the status the operator writes by the
    time on ``clock`` since the patch; ``stuck_at`` freezes it from that moment."""

    def __init__(self, clock, stuck_at=None):
        self.clock = clock
        self.spec = {"image": "e:1", "updateStrategy": SPEC_STRATEGY}
        self.patched_at = None
        self.patches = []
        self.reads = 0
        self.stuck_at = stuck_at

    def get(self, _name):
        self.reads += 1
        t = None if self.patched_at is None else self.clock() - self.patched_at
        if t is not None and self.stuck_at is not None:
            t = min(t, self.stuck_at)
        return {"metadata": {"name": "emqx-ee"}, "spec": dict(self.spec), "status": status_at(t)}

    def patch(self, name, body):
        self.patches.append(body)
        self.spec = logic._merged(self.spec, body["spec"])
        if self.patched_at is None:
            self.patched_at = self.clock()
        return self.get(name)


ARGS = {"name": "emqx-ee", "image": "e:2", "update_strategy": STRATEGY, "poll_interval": 1.0, "progress_interval": 5.0,
        "wait_timeout": 120, "stall_timeout": 60}


class Harness:
    """The action plugin with the module run in-process (its whole main(), argument spec included)
    against an ``Operator`` on a fake clock; each run of the module costs ``start_up`` seconds."""

    def __init__(self, monkeypatch, capsys, args, check_mode=False, start_up=0.5, operator=None, unreachable_runs=()):
        self.clock = Clock()
        self.clock.now = 1000.0
        self.operator = operator or Operator(self.clock)
        self.operator.clock = self.clock
        self.capsys = capsys
        self.start_up = start_up
        self.unreachable_runs = set(unreachable_runs)
        self.runs, self.lines, self.versions = [], [], []
        task = types.SimpleNamespace(args=dict(args), async_val=0, check_mode=check_mode, action="emqx_operator_update")
        connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir="/tmp/unused"), has_native_async=False)
        # six positional arguments: the constructor's keywords differ between ansible-core 2.18 and 2.19
        self.action = action_mod.ActionModule(task, connection, None, None, None, None)
        self.action.clock = self.clock
        self.action.sleep = self.clock.sleep
        self.action._execute_module = self.execute
        monkeypatch.setattr(action_mod.display, "display", self.lines.append)
        monkeypatch.setattr(module, "KUBERNETES_IMPORT_ERROR", None)
        monkeypatch.setattr(module, "connect", self.connect)
        monkeypatch.setattr(module, "resolve", self.resolve)
        monkeypatch.setattr(module, "Objects", lambda resource, namespace: self.operator)
        monkeypatch.setattr(module, "EmqxUpdate", functools.partial(logic.EmqxUpdate, clock=self.clock, sleep=self.clock.sleep))

    def connect(self, _params):
        if len(self.runs) in self.unreachable_runs:
            raise ApiError("connecting to the Kubernetes API at https://k8s.test:6443: connection refused")
        return object()

    def resolve(self, _client, _kind, version):
        self.versions.append(version)
        return "emqxes", "v2beta1"

    def execute(self, module_name, module_args, task_vars, **_kwargs):
        assert module_name == "zerodowntime.cluster.emqx_operator_update"
        self.runs.append(json.loads(json.dumps(module_args)))
        self.clock.now += self.start_up
        args = dict(module_args)
        if self.action._task.check_mode:
            args["_ansible_check_mode"] = True
        self.capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(self.capsys.readouterr().out)

    def run(self):
        return self.action.run(task_vars={})

    def progress(self):
        return [line for line in self.lines if line.startswith("EMQX default/emqx-ee update ")]


LINE = re.compile(r"^EMQX default/emqx-ee update (\d+)%: ([^;]+);.* elapsed ([\d.]+) s; ETA (>= )?([\d.]+) s$")


def test_a_progress_line_per_run_with_an_eta_that_counts_down(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, ARGS)
    result = harness.run()
    assert not result.get("failed"), result.get("msg")
    lines = harness.progress()
    assert len(lines) == len(harness.runs) >= 6, harness.lines
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    percents = [int(m.group(1)) for m in matches]
    elapsed = [float(m.group(3)) for m in matches]
    etas = [float(m.group(5)) for m in matches]
    assert percents == sorted(percents) and percents[-1] == 100 and percents[0] < 50
    assert elapsed == sorted(elapsed) and elapsed[-1] == result["elapsed"]
    # a line every progress_interval or so, not all at the end
    assert max(b - a for a, b in zip(elapsed, elapsed[1:])) <= 6.5, elapsed
    assert etas[-1] == 0.0 and etas[0] >= 20
    assert sum(1 for a, b in zip(etas, etas[1:]) if b > a + 1.0) <= 1, "the ETA counts down: %s" % etas
    assert matches[0].group(2) in ("waiting for the operator to take up the change", "starting the new revision's pods")
    assert matches[0].group(4) == ">= "  # the new pods' start-up is not in it
    assert matches[-1].group(2) == "update finished" and "old pods deleted 2/2" in lines[-1]
    evacuating = [line for line in lines if "evacuating old pods" in line]
    assert evacuating and "evacuations (connections/sessions left): blue-2 " in evacuating[0], lines
    assert any("new revision pods ready 2/2" in line for line in lines)


def test_the_first_run_patches_the_later_ones_only_observe_and_the_result_is_one_wait(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, ARGS)
    result = harness.run()
    assert [patch["spec"]["image"] for patch in harness.operator.patches] == ["e:2"]
    assert result["changed"] is True and result["blue_green"] is True and result["changed_fields"] == ["spec.image"]
    assert result["before"]["revisions"] == {"current": "a", "update": "a"}
    assert result["after"]["revisions"] == {"current": "b", "update": "b"}
    assert result["evacuated_nodes"] == sorted(BLUE) and result["api_version"] == "apps.emqx.io/v2beta1"
    assert "wait_slice" not in result and "wait_slice" not in result["invocation"]["module_args"]
    # later runs go on with the handed-over state, and need not discover the API version again
    assert "state" not in harness.runs[0]["wait_slice"]
    assert all(run["wait_slice"]["state"] for run in harness.runs[1:])
    assert harness.versions[0] == "auto" and set(harness.versions[1:]) == {"v2beta1"}
    # the timeline runs from the first run's first look to the end, as one run's would
    times = [s["t"] for s in result["timeline"]]
    assert times[0] == 0.0 and times == sorted(times) and times[-1] == result["elapsed"]
    assert READY_AT <= result["elapsed"] <= READY_AT + 3
    assert any(s["eta_seconds"] is not None for s in result["timeline"])

    # the same update in one run of the module (no action plugin) returns the same keys
    clock = Clock()
    alone = Operator(clock)
    params = dict(ARGS, namespace="default", spec=None, wait=True, allow_custom_cluster_domain=False)
    one_run = logic.EmqxUpdate(alone, params, clock=clock, sleep=clock.sleep).run()
    assert set(one_run) - {"diff"} | {"api_version", "invocation"} == set(result), (set(one_run), set(result))
    assert set(one_run["timeline"][0]) == set(result["timeline"][0])


def test_changed_stays_false_when_nothing_was_patched(monkeypatch, capsys):
    operator = Operator(None)
    operator.spec["image"] = "e:2"
    operator.patched_at = 1000.0 - 20  # the update is half way: only waited for
    harness = Harness(monkeypatch, capsys, ARGS, operator=operator)
    result = harness.run()
    assert not result.get("failed") and result["changed"] is False and harness.operator.patches == []
    assert len(harness.runs) >= 2 and result["after"]["revisions"]["current"] == "b"

    harness.operator.patched_at = 0.0  # long finished
    again = Harness(monkeypatch, capsys, ARGS, operator=harness.operator).run()
    assert again["changed"] is False and "timeline" not in again


def test_the_deadline_counts_from_the_first_run(monkeypatch, capsys):
    # the update never finishes, yet always moves (no stall): only the deadline ends it
    harness = Harness(monkeypatch, capsys, dict(ARGS, wait_timeout=30), operator=Operator(None, stuck_at=None))
    monkeypatch.setattr(harness.operator, "get", _never_done(harness.operator))
    result = harness.run()
    assert result["failed"] and result["msg"].startswith("timed out after 30s waiting; last observed: "), result["msg"]
    assert 30.0 <= harness.clock.now - 1000.0 <= 33.0
    remaining = [run["wait_slice"]["remaining"] for run in harness.runs]
    assert remaining[0] == 30.0 and remaining == sorted(remaining, reverse=True) and remaining[-1] <= ARGS["progress_interval"]
    assert 29.0 <= result["elapsed"] <= 31.0 and result["changed"] is True
    assert result["timeline"][0]["t"] == 0.0 and result["timeline"][-1]["t"] >= 29.0
    assert len(harness.progress()) == len(harness.runs) - 1  # the last run failed


def _never_done(operator):
    original = operator.get

    def get(name):
        obj = original(name)
        if obj["status"]["coreNodesStatus"]["updateRevision"] == "b":
            # a new evacuation count every read: progress that never ends
            obj["status"] = status_at(FIRST_EVACUATION + 4.5)
            obj["status"]["nodeEvacuationsStatus"][0]["stats"]["current_connected"] = 10 ** 6 - operator.reads
        return obj

    return get


def test_a_stall_fails_in_a_later_run_with_the_modules_message_and_the_stall_clock_runs_on(monkeypatch, capsys):
    # the new pods never become ready: nothing moves from 5 s after the patch on
    harness = Harness(monkeypatch, capsys, dict(ARGS, image="e:bad", stall_timeout=12), operator=Operator(None, stuck_at=5.0))
    result = harness.run()
    assert result["failed"]
    assert result["msg"].startswith("stuck update: the new nodes are not ready after 12s") and "'e:bad'" in result["msg"]
    assert "1/2 new core nodes ready" in result["msg"]
    # the stall began at 5 s and counted across runs (each only 5 s long)
    assert len(harness.runs) >= 3 and 16.5 <= result["elapsed"] <= 18.5, result["elapsed"]
    assert result["changed"] is True and result["last_observed"]["status"]["coreNodesStatus"]["updateRevision"] == "b"
    assert result["timeline"][0]["t"] == 0.0 and result["timeline"][-1]["t"] == result["elapsed"]
    assert [patch["spec"]["image"] for patch in harness.operator.patches] == ["e:bad"]


def test_a_failure_in_the_first_run_is_the_modules_own(monkeypatch, capsys):
    operator = Operator(None)
    operator.spec["clusterDomain"] = "corp.example"
    result = Harness(monkeypatch, capsys, ARGS, operator=operator).run()
    assert result["failed"] and "clusterDomain 'corp.example'" in result["msg"] and operator.patches == []


def test_the_wait_goes_on_when_the_api_server_does_not_answer_a_run(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, ARGS, unreachable_runs={2, 3})
    result = harness.run()
    assert not result.get("failed"), result.get("msg")
    assert result["after"]["revisions"]["current"] == "b" and result["changed"] is True
    assert sum(1 for line in harness.lines if "the Kubernetes API did not answer" in line) == 2


def test_check_mode_runs_once_and_waits_for_nothing(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, ARGS, check_mode=True)
    result = harness.run()
    assert not result.get("failed") and result["changed"] is True and result["blue_green"] is True
    assert len(harness.runs) == 1 and "wait_slice" not in harness.runs[0]
    assert harness.operator.patches == [] and harness.progress() == [] and "timeline" not in result


def test_without_wait_it_runs_once(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, dict(ARGS, wait=False))
    result = harness.run()
    assert result["changed"] is True and len(harness.runs) == 1 and harness.progress() == []


def test_bad_options_fail_on_the_controller_before_any_run(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, dict(ARGS, progress_interval=0))
    result = harness.run()
    assert result["failed"] and "progress_interval must be a positive number" in result["msg"] and harness.runs == []
    harness = Harness(monkeypatch, capsys, dict(ARGS, progress_interval="soon"))
    result = harness.run()
    assert result["failed"] and "progress_interval" in result["msg"] and harness.runs == []


def test_a_long_wait_keeps_a_bounded_timeline_and_hands_over_a_bounded_state(monkeypatch, capsys):
    harness = Harness(monkeypatch, capsys, dict(ARGS, poll_interval=0.5, progress_interval=20, wait_timeout=900, stall_timeout=900),
                      operator=Operator(None))
    monkeypatch.setattr(harness.operator, "get", _never_done(harness.operator))
    result = harness.run()
    assert result["failed"] and result["msg"].startswith("timed out after 900s")
    assert len(result["timeline"]) <= update_progress.MAX_SAMPLES and result["timeline"][0]["t"] == 0.0
    sizes = [len(json.dumps(run["wait_slice"])) for run in harness.runs]
    assert max(sizes[1:]) <= 1.2 * sizes[1] and len(harness.runs) >= 40


# ---- the progress itself ------------------------------------------------------------------------------

def test_progress_phases_and_estimates():
    def progress(t, seen=True):
        obj = {"spec": {"updateStrategy": SPEC_STRATEGY}, "status": status_at(t)}
        return update_progress.progress_of(obj, seen, logic.is_ready(obj) and seen, set(BLUE), 2)

    pending = progress(1.0, seen=False)
    assert pending["phase"] == "pending" and pending["old_left"] == 2 and pending["new_ready"] == 0
    assert pending["estimate_s"] == (2 + 1) + 2 * (4 + 2 + 2 + 2)  # initial delay (and the second it rounds to) + two pods
    assert progress(6.0)["phase"] == "starting" and progress(6.0)["new_ready"] == 1 and progress(6.0)["lower_bound"]
    assert progress(9.0)["phase"] == "available"
    health_check = progress(11.0)
    assert health_check["phase"] == "evacuating" and health_check["estimate_s"] == 10 + 10 and not health_check["lower_bound"]
    assert health_check["evacuations"] == [{"node": "blue-2", "state": "waiting_health_check", "connections": 30, "sessions": 30}]
    assert progress(FIRST_EVACUATION + 8.5)["estimate_s"] == 1 + 10  # 15 sessions left at 15/s, then the other pod
    removing = progress(FIRST_EVACUATION + POD_S + 10.5)
    assert removing["phase"] == "removing" and removing["deleted"] == 1 and removing["estimate_s"] == 0
    assert progress(READY_AT - 0.5)["phase"] == "finishing" and progress(READY_AT - 0.5)["deleted"] == 2
    assert progress(READY_AT)["phase"] == "done" and progress(READY_AT)["estimate_s"] == 0


def test_the_eta_runs_down_while_the_work_stays_the_same():
    watch = update_progress.UpdateProgress("EMQX ns/x")
    obj = {"spec": {"updateStrategy": SPEC_STRATEGY}, "status": status_at(11.0)}
    same = update_progress.progress_of(obj, True, False, set(BLUE), 2)
    lines = [watch.line(same, t) for t in (11.0, 12.0, 13.0)]
    assert [line.rsplit("ETA ", 1)[1] for line in lines] == ["20.0 s", "19.0 s", "18.0 s"]
    assert lines[0].startswith("EMQX ns/x update 35%: evacuating old pods; new revision pods ready 2/2; old pods deleted 0/2; "
                               "evacuations (connections/sessions left): blue-2 waiting_health_check 30/30; elapsed 11.0 s")


def test_the_timeline_of_many_runs_is_bounded_and_spans_the_whole_wait():
    timeline = []
    for run in range(100):
        timeline = update_progress.merge_timeline(timeline, [{"t": float(run * 20 + i)} for i in range(20)])
    assert len(timeline) <= update_progress.MAX_SAMPLES and timeline[0]["t"] == 0.0 and timeline[-1]["t"] == 1999.0
