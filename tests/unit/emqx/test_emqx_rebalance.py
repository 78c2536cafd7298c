"""emqx_rebalance: nothing_to_balance, balanced vs aborted, check-mode prediction, idempotence."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, TerminalFailure, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.rebalance import (
    Rebalance,
    balance_report,
    choose_rates,
    safe_evict_rate,
    side_balanced,
)
from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_rebalance

from fake_emqx import FakeEmqx, base_params, node  # pylint: disable=import-error

TIGHT = {"abs_conn_threshold": 2, "rel_conn_threshold": 1.1}


def rebalance(fake, clock, check_mode=False, **overrides):
    params = base_params(node="emqx@n1", state="started", nodes=None, conn_evict_rate=None, sess_evict_rate=None,
                         wait_health_check=None, wait_takeover=None, abs_conn_threshold=None, rel_conn_threshold=None,
                         abs_sess_threshold=None, rel_sess_threshold=None, conn_evict_rpc_timeout=None,
                         sess_evict_rpc_timeout=None)
    params.update(overrides)
    client = EmqxClient(params, transport=fake.transport, sleep=clock.sleep)
    with client:
        return Rebalance(client, params, check_mode=check_mode, clock=clock, sleep=clock.sleep).run()


def test_nothing_to_balance_is_success_without_change(fake, clock):
    result = rebalance(fake, clock)  # default thresholds of 1000 connections
    assert result["changed"] is False
    assert result["nothing_to_balance"] is True
    assert result["rebalance_outcome"] == "balanced"


def test_started_and_finished_balanced(fake, clock):
    result = rebalance(fake, clock, conn_evict_rate=5, **TIGHT)
    assert result["changed"] is True
    assert result["rebalance_outcome"] == "balanced"
    assert result["balance"]["balanced"] is True
    assert [s["state"] for s in result["timeline"]][-1] == "finished"
    assert fake.changing_requests()[0][2]["nodes"] == ["emqx@n1", "emqx@n2", "emqx@n3"]


def test_finished_but_unbalanced_is_told_apart_from_balanced(fake, clock):
    fake.leave_unbalanced = True
    with pytest.raises(TerminalFailure) as err:
        rebalance(fake, clock, **TIGHT)
    assert "still not balanced" in err.value.msg and "run it again with conn_evict_rate at most" in err.value.msg
    assert err.value.result()["rebalance_outcome"] == "unbalanced"
    assert err.value.result()["balance"]["connections_balanced"] is False


def test_vanishing_before_takeover_is_aborted_even_if_counts_look_even(clock):
    fake = FakeEmqx(nodes=[node("emqx@n1", live=30, sessions=30), node("emqx@n2", live=28, sessions=28),
                           node("emqx@n3", live=0, sessions=0)])
    fake.vanish_rebalance_at = 2  # gone while evicting connections

    def crash_and_reconnect():
        # the crashed donor's clients reconnect elsewhere: the counts end up even
        for name in ("emqx@n1", "emqx@n2", "emqx@n3"):
            fake.node_entry(name)["live_connections"] = fake.node_entry(name)["connections"] = 19

    real_tick = fake.tick
    seen = []

    def tick():
        seen.extend(fake.status["rebalances"])
        real_tick()
        if seen and not fake.status["rebalances"]:
            crash_and_reconnect()

    fake.tick = tick
    with pytest.raises(TerminalFailure) as err:
        rebalance(fake, clock, wait_takeover=30, **TIGHT)
    assert "without the 30s wait_takeover phase" in err.value.msg
    assert err.value.result()["rebalance_outcome"] == "aborted"


def test_participant_stopped_means_aborted(fake, clock):
    real_tick = fake.tick

    def tick_and_crash():
        real_tick()
        if not fake.status["rebalances"]:
            fake.node_entry("emqx@n3")["node_status"] = "stopped"

    fake.tick = tick_and_crash
    with pytest.raises(TerminalFailure) as err:
        rebalance(fake, clock, **TIGHT)
    assert "emqx@n3 stopped" in err.value.msg


def test_check_mode_predicts_start_and_nothing_to_balance(fake, clock):
    needed = rebalance(fake, clock, check_mode=True, **TIGHT)
    assert needed["changed"] is True and needed["diff"]["after"] == {"rebalance": "wait_health_check"}
    not_needed = rebalance(fake, clock, check_mode=True)
    assert not_needed["changed"] is False and not_needed["nothing_to_balance"] is True
    assert fake.changing_requests() == []


def test_running_rebalance_same_parameters_no_change(fake, clock):
    rebalance(fake, clock, wait=False, **TIGHT)
    fake.freeze = True
    again = rebalance(fake, clock, wait=False, **TIGHT)
    assert again["changed"] is False
    assert len(fake.changing_requests()) == 1


def test_running_rebalance_other_rate_fails_clearly(fake, clock):
    rebalance(fake, clock, wait=False, conn_evict_rate=5, **TIGHT)
    fake.freeze = True
    with pytest.raises(ValidationError) as err:
        rebalance(fake, clock, wait=False, conn_evict_rate=9, **TIGHT)
    assert "conn_evict_rate is 5, requested 9" in err.value.msg


def test_absent_stops_and_is_idempotent(fake, clock):
    rebalance(fake, clock, wait=False, **TIGHT)
    fake.freeze = True
    stopped = rebalance(fake, clock, state="absent", **{k: None for k in TIGHT})
    assert stopped["changed"] is True and fake.status["rebalances"] == []
    assert rebalance(fake, clock, state="absent")["changed"] is False


def test_default_participants_exclude_evacuating_nodes(fake, clock):
    fake.status["evacuations"].append({"node": "emqx@n3", "state": "prohibiting", "stats": {}})
    fake.freeze = True
    rebalance(fake, clock, wait=False, **TIGHT)
    assert fake.changing_requests()[0][2]["nodes"] == ["emqx@n1", "emqx@n2"]


def test_explicit_evacuating_participant_is_refused(fake, clock):
    fake.status["evacuations"].append({"node": "emqx@n3", "state": "prohibiting", "stats": {}})
    with pytest.raises(ValidationError) as err:
        rebalance(fake, clock, nodes=["emqx@n1", "emqx@n3"])
    assert "emqx@n3 is being evacuated" in err.value.msg
    assert fake.changing_requests() == []


def test_rpc_timeouts_need_5_9(fake, clock):
    with pytest.raises(ValidationError) as err:
        rebalance(fake, clock, conn_evict_rpc_timeout=10)
    assert "conn_evict_rpc_timeout for rebalance needs EMQX 5.9.0 or later; emqx@n1 runs 5.8.6" in err.value.msg


def test_rpc_timeouts_sent_in_milliseconds_on_5_9(clock):
    fake = FakeEmqx(nodes=[node("emqx@n1", version="5.9.1", live=30, sessions=30), node("emqx@n2", version="5.9.1")])
    rebalance(fake, clock, conn_evict_rpc_timeout="10s", sess_evict_rpc_timeout=2, wait=False, **TIGHT)
    body = fake.changing_requests()[0][2]
    assert body["conn_evict_rpc_timeout"] == 10000 and body["sess_evict_rpc_timeout"] == 2000


def test_eviction_agent_busy_rpc_error_is_explained(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/start", 503,
                {"code": "RPC_ERROR", "message": "RPC error on node 'emqx@n1': eviction_agent_busy"})
    with pytest.raises(ApiError) as err:
        rebalance(fake, clock, **TIGHT)
    assert "a participant may be under evacuation" in err.value.msg


def test_v4_rebalance_nothing_to_balance_in_http_200(clock):
    fake = FakeEmqx(api="v4")
    result = rebalance(fake, clock)
    assert result["nothing_to_balance"] is True and result["api_version"] == "v4"


@pytest.mark.parametrize("counts,expected", [
    ({"a": 100, "b": 100}, True),
    ({"a": 1500, "b": 0}, False),
    ({"a": 1000, "b": 0}, True),     # <= abs threshold, as the code (not the docs' <)
    ({"a": 2200, "b": 2000}, True),  # within 1.1x
    ({"a": 2300, "b": 1000}, False),
])
def test_balance_condition_matches_emqx(counts, expected):
    assert side_balanced(counts, 1000, 1.1)[0] is expected


def test_balance_report_uses_live_connections_and_disconnected_sessions():
    nodes = {"a": {"live_connections": 10, "sessions": 50}, "b": {"live_connections": 10, "sessions": 10}}
    report = balance_report(nodes, ["a", "b"], {"abs_sess_threshold": 5, "rel_sess_threshold": 1.1})
    assert report["connections_balanced"] is True
    assert report["disconnected_sessions"] == {"a": 40, "b": 0}
    assert report["sessions_balanced"] is False


def test_whole_module_nothing_to_balance(fake, run_module):
    failed, result = run_module(emqx_rebalance.main, fake, {"node": "emqx@n1"})
    assert not failed and result["changed"] is False and result["rebalance_outcome"] == "balanced"


def test_whole_module_aborted_fails_with_outcome(fake, run_module):
    fake.leave_unbalanced = True
    failed, result = run_module(emqx_rebalance.main, fake, {"node": "emqx@n1", "abs_conn_threshold": 2})
    assert failed and result["rebalance_outcome"] == "unbalanced"


def test_the_safe_rate_keeps_the_last_seconds_overshoot_within_the_thresholds():
    """EMQX evicts the full rate from every donor above the goal each second: its last second can
    leave a gap of rate * (1 + donors / recipients) around the average."""
    two_donors = {"a": 600, "b": 600, "c": 0}  # average 400: a and b give, c takes
    assert safe_evict_rate(two_donors, 90, 1.1) == 30  # max(90, 0.1 * 400) / (1 + 2 / 1)
    assert safe_evict_rate(two_donors, 10, 1.3) == 40  # the relative threshold allows 0.3 * 400 = 120
    assert safe_evict_rate({"a": 500, "b": 0, "c": 0}, 90, 1.1) == 60  # / (1 + 1 / 2)
    assert safe_evict_rate({"a": 5, "b": 5}, 90, 1.1) is None  # nothing to move


def test_unset_rates_are_chosen_safe_and_set_rates_above_that_are_warned_about():
    # as EmqxApi.nodes() gives them: live connections, and sessions (live or not)
    nodes = {"emqx@a": {"live_connections": 600, "sessions": 600}, "emqx@b": {"live_connections": 600, "sessions": 1100},
             "emqx@c": {"live_connections": 0, "sessions": 0}}
    body = {"nodes": sorted(nodes)}
    chosen, warnings, limits = choose_rates({"abs_conn_threshold": 90, "rel_conn_threshold": 1.1}, body, nodes)
    assert chosen == ["conn_evict_rate", "sess_evict_rate"] and body["conn_evict_rate"] == 30 and warnings == []
    # disconnected sessions 0, 500, 0 under the default thresholds (1000): 1000 / (1 + 1 / 2)
    assert body["sess_evict_rate"] == 500 and limits == {"conn_evict_rate": 30, "sess_evict_rate": 666}
    body = {"nodes": sorted(nodes), "conn_evict_rate": 100}  # as build_request puts what was given
    chosen, warnings, _limits = choose_rates({"conn_evict_rate": 100, "abs_conn_threshold": 90, "rel_conn_threshold": 1.1}, body, nodes)
    assert body["conn_evict_rate"] == 100 and chosen == ["sess_evict_rate"]
    assert len(warnings) == 1 and "conn_evict_rate=100 can overshoot" in warnings[0] and "at most 30 cannot" in warnings[0]
