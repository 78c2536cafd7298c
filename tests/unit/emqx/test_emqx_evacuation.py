"""emqx_evacuation against the fake API: idempotence, check mode, waiting, every error path."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError, TerminalFailure, ValidationError, WaitTimeout)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.evacuation import Evacuation
from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_evacuation

from fake_emqx import FakeEmqx, base_params, node  # pylint: disable=import-error


def evacuate(fake, clock, check_mode=False, **overrides):
    params = base_params(node="emqx@n1", state="evacuated", conn_evict_rate=None, sess_evict_rate=None,
                         wait_health_check=None, wait_takeover=None, redirect_to=None, migrate_to=None)
    params.update(overrides)
    client = EmqxClient(params, transport=fake.transport, sleep=clock.sleep)
    with client:
        return Evacuation(client, params, check_mode=check_mode, clock=clock, sleep=clock.sleep, wall=clock).run()


def test_start_drains_to_prohibiting_and_reports_progress(fake, clock):
    result = evacuate(fake, clock, conn_evict_rate=10, sess_evict_rate=10, migrate_to=["emqx@n2"])
    assert result["changed"] is True
    assert result["status"]["state"] == "prohibiting"
    assert result["status"]["stats"]["current_connected"] == 0
    assert result["status"]["stats"]["current_sessions"] == 0
    assert fake.changing_requests()[0][2] == {"conn_evict_rate": 10, "sess_evict_rate": 10, "migrate_to": ["emqx@n2"]}
    states = [s["state"] for s in result["timeline"]]
    assert states[0] == "evicting_conns" and states[-1] == "prohibiting"
    connections = [s["connections"] for s in result["timeline"]]
    assert connections == sorted(connections, reverse=True) and connections[0] > 0
    assert result["timeline"][0]["eta_s"] > result["timeline"][-1]["eta_s"] == 0.0
    assert result["diff"] == {"before": {"evacuation": "disabled"}, "after": {"evacuation": "prohibiting"}}


def test_second_run_with_same_parameters_is_not_a_change(fake, clock):
    evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2"])
    posts = len(fake.changing_requests())
    again = evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2"])
    assert again["changed"] is False
    assert len(fake.changing_requests()) == posts


def test_running_evacuation_with_other_parameters_fails_clearly(fake, clock):
    evacuate(fake, clock, conn_evict_rate=10, wait=False)
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, conn_evict_rate=50, wait=False)
    assert "conn_evict_rate is 10, requested 50" in err.value.msg
    assert "restart_on_change" in err.value.msg
    assert len(fake.changing_requests()) == 1


def test_a_recipient_that_is_down_for_now_is_no_change_and_restarts_nothing(fake, clock):
    # EMQX shows as session_recipients only those of migrate_to that can take sessions now.
    evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2", "emqx@n3"], wait=False)
    fake.node_entry("emqx@n3")["node_status"] = "stopped"
    posts = len(fake.changing_requests())
    for restart in (False, True):
        again = evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2", "emqx@n3"], wait=False, restart_on_change=restart)
        assert again["changed"] is False and "restarted" not in again, again
        assert again["status"]["session_recipients"] == ["emqx@n2"]
    assert len(fake.changing_requests()) == posts, "a restart would let clients back onto the node in between"


def test_a_recipient_that_could_take_sessions_but_is_not_one_is_a_difference(fake, clock):
    evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2"], wait=False)
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, conn_evict_rate=10, migrate_to=["emqx@n2", "emqx@n3"], wait=False)
    assert "migrate_to is ['emqx@n2'], requested ['emqx@n2', 'emqx@n3']" in err.value.msg


def test_restart_on_change_stops_and_starts_again(fake, clock):
    evacuate(fake, clock, conn_evict_rate=10, wait=False)
    result = evacuate(fake, clock, conn_evict_rate=50, wait=False, restart_on_change=True)
    assert result["changed"] is True and result["restarted"] is True
    paths = [r[1] for r in fake.changing_requests()]
    assert paths[-2].endswith("/evacuation/stop") and paths[-1].endswith("/evacuation/start")
    assert result["status"]["connection_eviction_rate"] == 50


def test_check_mode_predicts_and_sends_nothing(fake, clock):
    result = evacuate(fake, clock, check_mode=True, conn_evict_rate=10)
    assert result["changed"] is True
    assert result["diff"]["after"] == {"evacuation": "waiting_health_check"}
    assert fake.changing_requests() == []
    assert fake.status["evacuations"] == []


def test_check_mode_on_a_running_evacuation_predicts_no_change(fake, clock):
    evacuate(fake, clock, conn_evict_rate=10, wait=False)
    result = evacuate(fake, clock, check_mode=True, conn_evict_rate=10)
    assert result["changed"] is False
    assert len(fake.changing_requests()) == 1


def test_timeout_reports_last_observed_state(fake, clock):
    fake.freeze = True
    with pytest.raises(WaitTimeout) as err:
        evacuate(fake, clock, wait_timeout=10, poll_interval=2)
    assert "waiting_health_check" in err.value.msg
    assert err.value.last["entry"]["state"] == "waiting_health_check"
    assert 10 <= err.value.elapsed < 13
    assert len(err.value.samples) >= 5


def test_node_stopping_mid_wait_fails_at_once(fake, clock):
    real_tick = fake.tick

    def tick_then_stop():
        real_tick()
        if fake.status["evacuations"] and fake.status["evacuations"][0]["state"] == "evicting_conns":
            fake.node_entry("emqx@n1")["node_status"] = "stopped"

    fake.tick = tick_then_stop
    with pytest.raises(TerminalFailure) as err:
        evacuate(fake, clock, wait_timeout=600)
    assert "emqx@n1 stopped while being evacuated" in err.value.msg
    assert clock.now - 1000.0 < 30, "a terminal failure must not wait for the deadline"


def test_all_session_recipients_down_is_terminal(fake, clock):
    real_tick = fake.tick

    def tick_then_kill_recipient():
        real_tick()
        if fake.status["evacuations"] and fake.status["evacuations"][0]["state"] == "evicting_sessions":
            fake.node_entry("emqx@n2")["node_status"] = "stopped"
            fake.freeze = True

    fake.tick = tick_then_kill_recipient
    with pytest.raises(TerminalFailure) as err:
        evacuate(fake, clock, conn_evict_rate=100, migrate_to=["emqx@n2"])
    assert "none of the session recipients" in err.value.msg


def test_evacuation_stopped_by_someone_else_is_terminal(fake, clock):
    real_tick = fake.tick

    def tick_then_remove():
        real_tick()
        fake.status["evacuations"] = []

    fake.tick = tick_then_remove
    with pytest.raises(TerminalFailure) as err:
        evacuate(fake, clock)
    assert "stopped by someone else" in err.value.msg


def test_state_normal_stops_a_running_evacuation(fake, clock):
    evacuate(fake, clock, wait=False)
    result = evacuate(fake, clock, state="normal")
    assert result["changed"] is True
    assert fake.status["evacuations"] == []
    assert evacuate(fake, clock, state="normal")["changed"] is False


def test_state_normal_not_started_race_is_not_a_change(fake, clock):
    evacuate(fake, clock, wait=False)
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/stop", 400,
                {"code": "BAD_REQUEST", "message": "error on node 'emqx@n1': not_started"})
    result = evacuate(fake, clock, state="normal", wait=False)
    assert result["changed"] is False


def test_state_normal_on_a_stopped_node_explains_persistence(fake, clock):
    fake.node_entry("emqx@n1")["node_status"] = "stopped"
    with pytest.raises(TerminalFailure) as err:
        evacuate(fake, clock, state="normal")
    assert "persisted evacuation" in err.value.msg


def test_already_started_race_is_not_a_change(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", 400,
                {"code": "BAD_REQUEST", "message": "error on node 'emqx@n1': already_started"})
    assert evacuate(fake, clock, wait=False)["changed"] is False


def test_rpc_error_rereads_global_status_started(fake, clock):
    def started_anyway():
        fake.evacuation("emqx@n1", "start", {})
        return 503, {"code": "RPC_ERROR", "message": "RPC error on node 'emqx@n1': timeout"}

    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", started_anyway)
    result = evacuate(fake, clock, wait=False)
    assert result["changed"] is True
    assert result["status"]["node"] == "emqx@n1"


def test_rpc_error_with_nothing_started_fails_with_server_message(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", 503,
                {"code": "RPC_ERROR", "message": "RPC error on node 'emqx@n1': timeout"})
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, wait=False)
    assert err.value.status == 503 and err.value.code == "RPC_ERROR"
    assert "RPC error on node 'emqx@n1': timeout" in err.value.msg


def test_start_at_holds_the_start_request_until_that_moment(fake, clock):
    moment = clock() + 2.5
    sleeps_before = len(clock.sleeps)
    result = evacuate(fake, clock, conn_evict_rate=10, start_at=moment, wait=False)
    assert result["changed"] is True and result["started_at"] == moment
    assert clock.sleeps[sleeps_before] == pytest.approx(2.5)
    assert len(fake.changing_requests()) == 1


def test_start_at_already_past_starts_at_once_and_a_rerun_does_not_wait(fake, clock):
    now = clock()
    started = evacuate(fake, clock, conn_evict_rate=10, start_at=now - 30, wait=False)
    assert started["started_at"] == now
    assert all(s == 0 for s in clock.sleeps)
    again = evacuate(fake, clock, conn_evict_rate=10, start_at=clock() + 5, wait=False)
    assert again["changed"] is False and "started_at" not in again
    assert all(s == 0 for s in clock.sleeps) and len(fake.changing_requests()) == 1


def test_start_at_in_check_mode_does_not_wait(fake, clock):
    result = evacuate(fake, clock, check_mode=True, conn_evict_rate=10, start_at=clock() + 5)
    assert result["changed"] is True and clock.sleeps == []


def test_start_at_far_ahead_is_refused_before_any_change(fake, clock):
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, conn_evict_rate=10, start_at=clock() + 3600)
    assert "start_at lies 3600 s ahead of this host's clock" in err.value.msg
    assert fake.changing_requests() == [] and clock.sleeps == []
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, state="normal", start_at=clock())
    assert "start_at" in err.value.msg


def test_unknown_node_is_refused_before_any_change(fake, clock):
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, node="emqx@nope")
    assert "emqx@nope is not a member of this cluster" in err.value.msg
    assert fake.changing_requests() == []


def test_server_404_for_node_is_explained(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", 404,
                {"code": "NOT_FOUND", "message": "Node not found: emqx@n1"})
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, wait=False)
    assert "does not know this node" in err.value.msg and err.value.status == 404


def test_eviction_agent_busy_from_server(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", 400,
                {"code": "BAD_REQUEST", "message": "error on node 'emqx@n1': eviction_agent_busy"})
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, wait=False)
    assert "eviction agent is busy" in err.value.msg


def test_rebalance_donor_is_refused_before_posting(fake, clock):
    fake.status["rebalances"].append({"node": "emqx@n3", "coordinator_node": "emqx@n3", "state": "evicting_conns",
                                      "donors": ["emqx@n1"], "recipients": ["emqx@n3"], "ticks": 0})
    fake.freeze = True
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock)
    assert "donor of the rebalance coordinated by emqx@n3" in err.value.msg
    assert fake.changing_requests() == []


def test_wait_health_check_needs_5_1(clock):
    fake = FakeEmqx(nodes=[node("emqx@n1", version="5.0.4", live=5, sessions=5), node("emqx@n2", version="5.0.4")])
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, wait_health_check=10)
    assert "wait_health_check for evacuation needs EMQX 5.1.0 or later; emqx@n1 runs 5.0.4" in err.value.msg
    assert fake.changing_requests() == []


def test_api_node_version_from_login_is_checked_too(clock):
    fake = FakeEmqx(login_version="5.0.2")
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, api_key=None, api_secret=None, username="admin", password="pw", wait_health_check="10s")
    assert "the API node runs 5.0.2" in err.value.msg


def test_durations_are_sent_as_whole_seconds(fake, clock):
    evacuate(fake, clock, wait_health_check="1m", wait_takeover="30s", wait=False)
    assert fake.changing_requests()[0][2] == {"wait_health_check": 60, "wait_takeover": 30}


def test_dashboard_login_uses_bearer_token(fake, clock):
    result = evacuate(fake, clock, api_key=None, api_secret=None, username="admin", password="pw", wait=False)
    assert result["changed"] is True and result["api_version"] == "v5"


def test_bad_credentials_401_names_the_code(fake, clock):
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, api_secret="wrong")
    assert err.value.status == 401 and err.value.code == "BAD_API_KEY_OR_SECRET"
    assert "wrong" not in err.value.msg


def test_forbidden_role_403_is_reported(fake, clock):
    fake.script("POST", "/api/v5/load_rebalance/emqx@n1/evacuation/start", 403,
                {"code": "UNAUTHORIZED_ROLE", "message": "Unauthorized Role"})
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, wait=False)
    assert err.value.status == 403 and "UNAUTHORIZED_ROLE" in err.value.msg


def test_v4_envelope_and_auto_detection(clock):
    fake = FakeEmqx(api="v4")
    result = evacuate(fake, clock, conn_evict_rate=10)
    assert result["api_version"] == "v4"
    assert result["changed"] is True and result["status"]["state"] == "prohibiting"
    assert result["node_info"]["status"] == "running"


def test_v4_error_inside_http_200_is_detected(clock):
    fake = FakeEmqx(api="v4")
    evacuate(fake, clock, wait=False)
    fake.script("POST", "/api/v4/load_rebalance/emqx@n1/evacuation/stop", 200, {"code": 400, "message": "not_started"})
    assert evacuate(fake, clock, state="normal", wait=False)["changed"] is False
    fake.script("POST", "/api/v4/load_rebalance/emqx@n1/evacuation/start", 200, {"code": 400, "message": "boom"})
    fake.status["evacuations"] = []
    with pytest.raises(ApiError) as err:
        evacuate(fake, clock, wait=False)
    assert "error code 400: boom" in err.value.msg


def test_v4_keyed_global_status_shape(clock):
    fake = FakeEmqx(api="v4")
    fake.keyed_global_status = True
    evacuate(fake, clock, wait=False)
    again = evacuate(fake, clock, wait=False)
    assert again["changed"] is False
    assert again["before"]["node"] == "emqx@n1"


def test_v4_refuses_wait_health_check(clock):
    fake = FakeEmqx(api="v4")
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, wait_health_check=5)
    assert "not accepted by the v4 API" in err.value.msg


def test_v4_refuses_a_zero_wait_takeover_before_asking_emqx(clock):
    # 4.x validates wait_takeover with validate_pos_int (emqx_node_rebalance_api.erl): 0 is a 400 there
    fake = FakeEmqx(api="v4")
    with pytest.raises(ValidationError) as err:
        evacuate(fake, clock, wait_takeover="0s")
    assert "wait_takeover must be at least 1 s on EMQX 4.x" in err.value.msg
    assert fake.changing_requests() == []
    assert evacuate(FakeEmqx(), clock, wait=False, wait_takeover=0)["changed"] is True  # 5.x takes 0: no wait


def test_whole_module_check_mode_and_diff(fake, run_module):
    failed, result = run_module(emqx_evacuation.main, fake, {"node": "emqx@n1", "conn_evict_rate": 5},
                                check_mode=True, diff=True)
    assert not failed and result["changed"] is True
    assert result["diff"]["after"]["evacuation"] == "waiting_health_check"
    assert fake.changing_requests() == []


def test_whole_module_run_twice(fake, run_module):
    failed, first = run_module(emqx_evacuation.main, fake, {"node": "emqx@n1", "conn_evict_rate": 50})
    assert not failed and first["changed"] is True and first["status"]["state"] == "prohibiting"
    failed, second = run_module(emqx_evacuation.main, fake, {"node": "emqx@n1", "conn_evict_rate": 50})
    assert not failed and second["changed"] is False


def test_whole_module_hides_the_secret_in_failures(fake, run_module):
    fake.script("GET", "/api/v5/nodes", 500, {"code": "INTERNAL_ERROR", "message": "cannot use secret-s3cr3t here"})
    fake.secret = "secret-s3cr3t"
    failed, result = run_module(emqx_evacuation.main, fake, {"node": "emqx@n1", "api_secret": "secret-s3cr3t"})
    assert failed
    assert "secret-s3cr3t" not in str(result)


def test_the_eta_counts_down_while_a_phase_holds_the_counters_still(fake, clock):
    # EMQX waits whole phases (health check, takeover) and refreshes its counters about once a
    # second: between changes the ETA must run down with the clock, not stand still.
    real_tick, calls = fake.tick, []

    def slow_tick():
        calls.append(1)
        if len(calls) % 6 == 0:
            real_tick()

    fake.tick = slow_tick
    result = evacuate(fake, clock, conn_evict_rate=10, sess_evict_rate=10, wait_health_check=5, wait_takeover=5,
                      poll_interval=1.0, migrate_to=["emqx@n2"])
    timeline = result["timeline"]
    health = [s for s in timeline if s["state"] == "waiting_health_check"]
    takeover = [s for s in timeline if s["state"] == "waiting_takeover"]
    for phase in (health, takeover):
        assert len(phase) >= 3
        etas = [s["eta_s"] for s in phase]
        assert etas == sorted(etas, reverse=True) and etas[0] > etas[-1], etas
    # during the health check the ETA includes that wait: it exceeds what follows it
    assert health[0]["eta_s"] >= 5 + takeover[0]["eta_s"] - 1
