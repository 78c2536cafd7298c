"""emqx_drain_wait: the module observes many times per run, the action plugin follows a drain of
any length through repeated runs at a flat cost, prints progress, and stops where it must."""
import json
import types

import httpx
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.zerodowntime.cluster.plugins.action import emqx_drain_wait as action_mod
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.bluegreen import MAX_TIMELINE, timeline_append
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.drain import (
    DRAIN_ARGS,
    MAX_SAMPLES,
    DrainObserver,
    DrainWatch,
    ObservationCost,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS
from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_drain_wait

from fake_emqx import CONNECTION, FakeClock, FakeEmqx  # pylint: disable=import-error

BLUE = "emqx@n1"


def evacuating(fake, conns=30, sessions=None, rate=10, state="evicting_conns", name=BLUE):
    sessions = conns if sessions is None else sessions
    fake.status["evacuations"].append({
        "node": name, "state": state, "connection_eviction_rate": rate, "session_eviction_rate": rate,
        "stats": {"initial_connected": conns, "current_connected": conns, "initial_sessions": sessions, "current_sessions": sessions}})


DRAIN = {"nodes": [BLUE], "reconnect_budget": 10, "session_budget": 10, "wait_takeover": 2, "poll_interval": 0.5, "progress_interval": 5}


# ---- the module: one run ------------------------------------------------------------------------

def test_the_module_returns_its_observations_and_changes_nothing(fake, run_module):
    evacuating(fake, conns=1000)
    failed, result = run_module(emqx_drain_wait.main, fake, dict(DRAIN, poll_interval=0.01, progress_interval=0.2))
    assert not failed, result
    assert result["changed"] is False and result["api_url"] == CONNECTION["api_url"] and result["api_version"] == "v5"
    assert 2 <= len(result["observations"]) <= 21
    assert [o["evacuations"][0]["stats"]["current_connected"] for o in result["observations"][:2]] == [990, 980]
    assert {n["name"] for n in result["observations"][0]["nodes"]} == {"emqx@n1", "emqx@n2", "emqx@n3"}
    assert fake.changing_requests() == []


def test_check_mode_observes_once_and_waits_for_nothing(fake, run_module):
    evacuating(fake, conns=1000)
    failed, result = run_module(emqx_drain_wait.main, fake, dict(DRAIN), check_mode=True)
    assert not failed and len(result["observations"]) == 1


def test_bad_drain_options_fail_before_any_request(fake, run_module):
    failed, result = run_module(emqx_drain_wait.main, fake, dict(DRAIN, nodes=[], reconnect_budget=0))
    assert failed
    assert "nodes must name at least one node" in result["msg"] and "reconnect_budget must be positive" in result["msg"]
    assert fake.requests == []


def params(**overrides):
    merged = dict(CONNECTION, **dict(DRAIN, **overrides))
    return ArgumentSpecValidator(merge_specs(CONNECTION_ARGS, DRAIN_ARGS)).validate(merged).validated_parameters


def routed(nodes):
    """A transport that sends each request to the FakeEmqx of its host; unknown hosts refuse."""
    def route(request):
        base = "%s://%s" % (request.url.scheme, request.url.netloc.decode())
        if base not in nodes:
            raise httpx.ConnectError("connection refused", request=request)
        return nodes[base].handle(request)
    return httpx.MockTransport(route)


def observe(fake, clock, **overrides):
    opts = params(**overrides)

    def client_for(url):
        return EmqxClient(dict(opts, api_url=url), transport=fake.transport, sleep=clock.sleep)

    return DrainObserver(client_for(opts["api_url"]), opts, client_for, clock=clock, sleep=clock.sleep).run()


def test_one_run_observes_every_poll_interval_for_the_progress_interval(fake, clock):
    evacuating(fake, conns=1000)
    result = observe(fake, clock)
    # five seconds at 0.5 s: observations at 0, 0.5, ... 5.0
    assert [o["t"] for o in result["observations"]] == [0.5 * i for i in range(11)] and clock.sleeps == [0.5] * 10


def test_a_run_ends_at_once_when_the_drain_is_done_or_a_node_stopped(fake, clock):
    evacuating(fake, conns=20, sessions=0)
    result = observe(fake, clock, progress_interval=60)
    assert result["observations"][-1]["evacuations"][0]["state"] == "prohibiting" and clock.now < 1010
    fake.node_entry(BLUE)["node_status"] = "stopped"
    assert len(observe(fake, clock, progress_interval=60)["observations"]) == 1


def gets(fake, path):
    return sum(1 for request in fake.requests if request[:2] == ("GET", "/api/v5" + path))


def test_members_are_read_once_a_second_while_the_evacuations_tell_the_progress(fake, clock):
    evacuating(fake, conns=1000)
    observe(fake, clock, poll_interval=0.25, progress_interval=4)
    assert gets(fake, "/load_rebalance/global_status") == 17
    assert gets(fake, "/nodes") == 1 + 5  # the API version check, then at 0, 1, 2, 3 and 4 s


def test_members_are_read_at_every_observation_while_a_node_has_no_evacuation(fake, clock):
    observe(fake, clock, poll_interval=0.5, progress_interval=2)
    assert gets(fake, "/load_rebalance/global_status") == 5 and gets(fake, "/nodes") == 1 + 5


def test_near_the_end_it_looks_twice_a_second(fake, clock):
    evacuating(fake, conns=2, sessions=0)
    observe(fake, clock, poll_interval=5, progress_interval=60)
    assert set(clock.sleeps) == {0.5}


def test_reads_through_another_node_when_the_first_does_not_answer(clock):
    green = FakeEmqx()
    evacuating(green, conns=1000)
    transport = routed({"http://n2.test:18083": green})
    opts = params(api_url="http://n1.test:18083", other_api_urls=["http://n2.test:18083"], progress_interval=3)

    def client_for(url):
        return EmqxClient(dict(opts, api_url=url), transport=transport, sleep=clock.sleep)

    result = DrainObserver(client_for(opts["api_url"]), opts, client_for, clock=clock, sleep=clock.sleep).run()
    # the refused node costs its retries (1.5 s) once; later observations go straight to the one that answered
    assert result["api_url"] == "http://n2.test:18083" and [o["t"] for o in result["observations"]] == [1.5, 2.0, 2.5, 3.0]


def test_says_which_nodes_it_tried_when_none_answers(clock):
    opts = params(api_url="http://n1.test:18083", other_api_urls=["http://n2.test:18083"])

    def client_for(url):
        return EmqxClient(dict(opts, api_url=url), transport=routed({}), sleep=clock.sleep)

    with pytest.raises(Exception) as failure:
        DrainObserver(client_for(opts["api_url"]), opts, client_for, clock=clock, sleep=clock.sleep).run()
    assert "No EMQX node answers its management API (http://n1.test:18083, http://n2.test:18083)" in str(failure.value)


def test_refused_credentials_are_not_hidden_by_trying_other_nodes(clock):
    one, two = FakeEmqx(), FakeEmqx()
    one.secret = two.secret = "other"
    opts = params(api_url="http://n1.test:18083", other_api_urls=["http://n2.test:18083"])
    transport = routed({"http://n1.test:18083": one, "http://n2.test:18083": two})

    def client_for(url):
        return EmqxClient(dict(opts, api_url=url), transport=transport, sleep=clock.sleep)

    with pytest.raises(Exception) as failure:
        DrainObserver(client_for(opts["api_url"]), opts, client_for, clock=clock, sleep=clock.sleep).run()
    assert "BAD_API_KEY_OR_SECRET" in str(failure.value)
    assert two.requests == []


# ---- the controller's bookkeeping -----------------------------------------------------------------

def info(conns, sessions, state, running=True):
    return {"nodes": [{"name": BLUE, "status": "running" if running else "stopped", "connections": conns, "sessions": sessions},
                      {"name": "emqx@g1", "status": "running", "connections": 100 - conns, "sessions": 100 - sessions}],
            "evacuations": [{"node": BLUE, "state": state, "stats": {
                "initial_connected": 100, "current_connected": conns, "initial_sessions": 100, "current_sessions": sessions}}]}


def test_the_eta_counts_down_between_changes_of_the_work_left():
    watch = DrainWatch([BLUE], budget=10, session_budget=10, wait_health_check=4, wait_takeover=6)
    etas = [watch.add(info(100, 100, "waiting_health_check"), t)["eta_s"] for t in (0.0, 1.0, 2.0, 3.0)]
    assert etas == [20.0, 19.0, 18.0, 17.0]  # 4 s health check + 100 / 10 + 6 s takeover, running down
    assert watch.add(info(90, 90, "evicting_conns"), 4.0)["eta_s"] == 15.0  # a change: estimated again from the work left
    assert watch.add(info(90, 90, "evicting_conns"), 4.5)["eta_s"] == 14.5
    takeover = [watch.add(info(0, 3, "waiting_takeover"), t)["eta_s"] for t in (13.0, 15.0, 19.0, 30.0)]
    assert takeover == [6.3, 4.3, 0.3, 0.0]
    assert watch.add(info(0, 0, "prohibiting"), 31.0)["done"] and watch.progress["eta_s"] == 0.0


def test_reconnects_per_second_over_the_last_seconds():
    watch = DrainWatch([BLUE], budget=10, session_budget=10)
    for second in range(10):
        progress = watch.add(info(100 - 10 * second, 100, "evicting_conns"), float(second))
    assert progress["reconnects_per_s"] == 10.0
    for second in range(10, 20):
        progress = watch.add(info(10, 100, "evicting_conns"), float(second))
    assert progress["reconnects_per_s"] == 0.0


def test_the_time_series_stays_bounded_and_spans_the_whole_drain():
    watch = DrainWatch([BLUE], budget=10, session_budget=10)
    for i in range(12000):  # ten observations a second for 20 minutes
        watch.add(info(50, 50, "evicting_conns"), i / 10.0)
    points = watch.timeline()
    assert len(points) <= MAX_SAMPLES + 1 and len(watch.samples) <= MAX_SAMPLES
    assert points[0]["t"] == 0.0 and points[-1]["t"] == 1199.9
    gaps = {round(b["t"] - a["t"], 1) for a, b in zip(watch.samples, watch.samples[1:])}
    assert max(gaps) <= 8.0, gaps


def test_the_runs_time_series_is_capped_so_a_long_soak_does_not_slow_down():
    samples = []
    for t in range(3 * MAX_TIMELINE):
        samples = timeline_append(samples, {"t": float(t)})
    assert len(samples) <= MAX_TIMELINE
    assert samples[0]["t"] == 0.0 and samples[-1]["t"] == 3 * MAX_TIMELINE - 1


def test_cost_per_observation_compares_the_first_and_the_last_observations():
    cost = ObservationCost(start=0.0, window=10)
    at = 1.0  # the first run starts up for a second
    for i in range(1000):
        cost.add(at)
        at += 0.5 if i % 5 == 4 else 0.01  # runs of five observations, half a second to start the next
    summary = cost.summary()
    assert summary["first"] == pytest.approx((1.0 + 1 * 0.5 + 8 * 0.01) / 10)  # observations 1-10, from the start
    assert summary["last"] == pytest.approx((2 * 0.5 + 8 * 0.01) / 10)  # observation 990 to 1000
    assert cost.observations == 1000 and len(cost._recent) == 11


# ---- the action plugin ----------------------------------------------------------------------------

class Harness:
    """The action plugin with its module run in-process against a FakeEmqx on a fake clock:
    each run costs ``start_up`` seconds before the module observes."""

    def __init__(self, monkeypatch, fake, args, start_up=0.6, check_mode=False, stop_after_runs=None):
        self.fake, self.clock, self.start_up, self.runs, self.lines = fake, FakeClock(), start_up, [], []
        self.stop_after_runs = stop_after_runs
        task = types.SimpleNamespace(args=dict(CONNECTION, **args), async_val=0, check_mode=check_mode, action="emqx_drain_wait")
        connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir="/tmp/unused"))
        self.action = action_mod.ActionModule(task, connection, None, None, None, None)
        self.action.clock = self.clock
        self.action.wall = lambda: 1.7e9 + self.clock()
        self.action.sleep = self.clock.sleep
        self.action._execute_module = self.execute
        monkeypatch.setattr(action_mod.display, "display", self.lines.append)

    def execute(self, module_name, module_args, task_vars):
        assert module_name == "zerodowntime.cluster.emqx_drain_wait"
        self.runs.append(dict(module_args))
        if self.stop_after_runs is not None and len(self.runs) > self.stop_after_runs:
            self.fake.node_entry(BLUE)["node_status"] = "stopped"
        self.clock.now += self.start_up
        opts = params(**{k: v for k, v in module_args.items() if k not in ("api_key", "api_secret")})

        def client_for(url):
            return EmqxClient(dict(opts, api_url=url), transport=self.fake.transport, sleep=self.clock.sleep)

        try:
            result = DrainObserver(client_for(opts["api_url"]), opts, client_for, check_mode=self.action._task.check_mode,
                                   clock=self.clock, sleep=self.clock.sleep).run()
        except Exception as exc:  # what run_and_exit turns into a failed module result
            return {"failed": True, "msg": str(exc)}
        return json.loads(json.dumps(result))

    def run(self):
        return self.action.run(task_vars={})


def test_follows_a_long_drain_at_a_flat_cost_with_a_progress_line_per_run(monkeypatch):
    fake = FakeEmqx()
    evacuating(fake, conns=2000, sessions=0, rate=1, state="waiting_health_check")  # one connection per observation
    harness = Harness(monkeypatch, fake, dict(DRAIN, reconnect_budget=1, session_budget=1000, poll_interval=0.01,
                                              progress_interval=1, wait_timeout=3600))
    result = harness.run()
    assert not result.get("failed"), result.get("msg")
    assert result["done"] and result["waited"] and result["changed"] is False
    assert result["observations"] >= 2000 and result["module_runs"] == len(harness.runs) >= 20
    first, last = result["seconds_per_observation"]["first"], result["seconds_per_observation"]["last"]
    assert last <= 1.5 * first, result["seconds_per_observation"]
    assert len(result["samples"]) <= MAX_SAMPLES + 1
    assert result["drained_at"] == pytest.approx(1.7e9 + harness.clock.now, abs=1.0)
    progress_lines = [line for line in harness.lines if "% drained at " in line]
    assert len(progress_lines) == len(harness.runs)
    assert "ETA" in progress_lines[0] and "reconnects/s" in progress_lines[0] and BLUE in progress_lines[0]
    assert progress_lines[-1].startswith("100.0% drained")
    assert harness.lines[-1].startswith("drained after %d observations" % result["observations"])


def test_a_drained_node_that_stops_fails_the_task_with_its_name(monkeypatch):
    fake = FakeEmqx()
    evacuating(fake, conns=3000, rate=1)
    harness = Harness(monkeypatch, fake, dict(DRAIN, poll_interval=0.1, progress_interval=1), stop_after_runs=2)
    result = harness.run()
    assert result["failed"] and len(harness.runs) == 3
    assert result["msg"].startswith("%s left the cluster while being drained (stopped, or cut off from the other nodes): "
                                    "sessions it still held are lost" % BLUE)
    assert result["progress"]["stopped"] == [BLUE]


def test_the_deadline_counts_from_started_at_and_reports_the_last_progress(monkeypatch):
    fake = FakeEmqx()
    evacuating(fake, conns=3000, rate=1)
    harness = Harness(monkeypatch, fake, dict(DRAIN, poll_interval=0.1, progress_interval=1, wait_timeout=30,
                                              started_at=1.7e9 + 1000.0 - 20))  # 20 of the 30 seconds already gone
    result = harness.run()
    assert result["failed"] and result["msg"].startswith("The drain did not finish within 30 s; last progress: ")
    assert 10.0 <= harness.clock.now - 1000.0 <= 12.0
    assert harness.runs[-1]["progress_interval"] < 1  # the last run stops at the deadline
    assert result["elapsed"] >= 29.0


def test_switches_to_the_node_that_answered_and_keeps_the_others(monkeypatch):
    fake = FakeEmqx()
    evacuating(fake, conns=3000, rate=1)
    harness = Harness(monkeypatch, fake, dict(DRAIN, poll_interval=0.1, progress_interval=1, wait_timeout=3,
                                              other_api_urls=["http://n2.test:18083", "http://n3.test:18083"]))
    original = harness.execute

    def answered_by_n2(module_name, module_args, task_vars):
        result = original(module_name, module_args, task_vars)
        return dict(result, api_url="http://n2.test:18083")

    harness.action._execute_module = answered_by_n2
    result = harness.run()
    assert result["api_url"] == "http://n2.test:18083"
    second = harness.runs[1]
    assert second["api_url"] == "http://n2.test:18083"
    assert second["other_api_urls"] == [CONNECTION["api_url"], "http://n3.test:18083"]


def test_check_mode_runs_once_and_does_not_wait(monkeypatch):
    fake = FakeEmqx()
    evacuating(fake, conns=3000, rate=1)
    harness = Harness(monkeypatch, fake, dict(DRAIN, poll_interval=0.1), check_mode=True)
    result = harness.run()
    assert not result.get("failed") and result["waited"] is False and result["done"] is False
    assert len(harness.runs) == 1 and result["observations"] == 1


def test_a_failed_run_fails_the_task_with_the_modules_message(monkeypatch):
    fake = FakeEmqx()
    fake.secret = "other"
    harness = Harness(monkeypatch, fake, dict(DRAIN))
    result = harness.run()
    assert result["failed"] and "BAD_API_KEY_OR_SECRET" in result["msg"] and result["observations"] == 0


def test_bad_options_fail_on_the_controller_before_any_run(monkeypatch):
    harness = Harness(monkeypatch, FakeEmqx(), dict(DRAIN, poll_interval=0, nodes="emqx@n1", progress_interval="soon"))
    result = harness.run()
    assert result["failed"] and "progress_interval" in result["msg"] and harness.runs == []
    harness = Harness(monkeypatch, FakeEmqx(), dict(DRAIN, poll_interval=0))
    result = harness.run()
    assert result["failed"] and "poll_interval must be a positive number" in result["msg"] and harness.runs == []


def test_the_action_refuses_a_bad_drain_option_before_any_module_run(monkeypatch):
    # connection options are the module's to check (they may come from the target's environment)
    harness = Harness(monkeypatch, FakeEmqx(), dict(DRAIN, poll_interval="often", api_timeout="not a connection option"))
    result = harness.run()
    assert result["failed"] and result["msg"].startswith("invalid options: ") and "poll_interval" in result["msg"], result
    assert "api_timeout" not in result["msg"]
    assert harness.runs == []
