"""The emqx_blue_green role's filters: HAProxy pool checks, sessions left on a colour, the summary lines."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.filter.emqx_blue_green import (
    FilterModule, emqx_blue_green_report_lines, emqx_gate_reasons, emqx_lb_nodes_up, emqx_lb_pool_check, emqx_lb_session_limits, emqx_members,
    emqx_sessions_left)

SERVERS = {"emqx@b1": "blue1", "emqx@b2": "blue2", "emqx@g1": "green1", "emqx@g2": "green2"}


def server(name, status="UP", check_status="L7OK"):
    return {"name": name, "status": status, "check_status": check_status, "current_sessions": 0, "total_sessions": 0,
            "weight": 1, "last_change_s": 10}


def backend(*servers):
    """A haproxy_backend_info result."""
    return {"changed": False, "servers": list(servers), "by_name": {s["name"]: s for s in servers}}


HEALTHY = backend(server("blue1"), server("blue2"), server("green1", "DOWN", "L7STS"), server("green2", "DOWN", "L4CON"))
ALL = ["emqx@b1", "emqx@b2", "emqx@g1", "emqx@g2"]
BLUE = ["emqx@b1", "emqx@b2"]


def test_pool_check_passes_for_a_backend_ready_for_the_move():
    check = emqx_lb_pool_check(HEALTHY, SERVERS, ALL, BLUE, BLUE)
    assert check == {
        "ok": True,
        "servers": ["blue1", "blue2", "green1", "green2"],
        "missing": [],
        "not_http_checked": [],
        "not_up": [],
        "found": [["blue1", "UP", "L7OK"], ["blue2", "UP", "L7OK"], ["green1", "DOWN", "L7STS"], ["green2", "DOWN", "L4CON"]],
    }


def test_pool_check_reports_missing_servers_once_and_not_as_unchecked_or_down():
    lb = backend(server("blue1"), server("green1"))
    check = emqx_lb_pool_check(lb, SERVERS, ALL + ["emqx@b2"], BLUE, BLUE)
    assert check["ok"] is False
    assert check["missing"] == ["blue2", "green2"]
    assert check["not_http_checked"] == [] and check["not_up"] == []
    assert check["servers"] == ["blue1", "blue2", "green1", "green2", "blue2"]


def test_pool_check_counts_a_node_without_a_server_name_as_missing():
    check = emqx_lb_pool_check(HEALTHY, {"emqx@b1": "blue1", "emqx@b2": ""}, BLUE, BLUE, BLUE)
    assert check["missing"] == [""] and check["servers"] == ["blue1", ""] and not check["ok"]


def test_pool_check_wants_a_layer7_check_on_the_running_blue_nodes_only():
    lb = backend(server("blue1", check_status="L4OK"), server("blue2", check_status=None), server("green1", check_status="L4OK"),
                 server("green2", check_status="* L7OK"))
    check = emqx_lb_pool_check(lb, SERVERS, ALL, BLUE + ["emqx@g2"], [])
    # L4 checks and no check at all are not HTTP checks; "* L7OK" (a check in progress) does not start with L7 either
    assert check["not_http_checked"] == ["blue1", "blue2", "green2"]
    assert check["not_up"] == [] and not check["ok"]


def test_pool_check_wants_idle_blue_nodes_up():
    lb = backend(server("blue1", "MAINT"), server("blue2", "DRAIN"), server("green1"), server("green2"))
    assert emqx_lb_pool_check(lb, SERVERS, ALL, BLUE, ["emqx@b2"])["not_up"] == ["blue2"]
    assert emqx_lb_pool_check(lb, SERVERS, ALL, BLUE, [])["ok"] is True  # both are being evacuated


def test_pool_check_of_an_empty_backend_and_no_nodes():
    empty = backend()
    assert emqx_lb_pool_check(empty, {}, [], [], []) == {
        "ok": True, "servers": [], "missing": [], "not_http_checked": [], "not_up": [], "found": []}
    check = emqx_lb_pool_check(empty, SERVERS, BLUE, BLUE, BLUE)
    assert check["missing"] == ["blue1", "blue2"] and check["found"] == [] and not check["ok"]


def test_pool_check_reads_the_servers_list_when_by_name_is_absent():
    lb = {"servers": [server("blue1"), server("blue2", "DOWN")]}
    check = emqx_lb_pool_check(lb, SERVERS, BLUE, BLUE, BLUE)
    assert check["not_up"] == ["blue2"] and check["found"] == [["blue1", "UP", "L7OK"], ["blue2", "DOWN", "L7OK"]]


def test_pool_check_of_a_failed_read_fails_with_its_message():
    with pytest.raises(AnsibleFilterError, match="not read.*Connection refused"):
        emqx_lb_pool_check({"failed": True, "msg": "HAProxy runtime API at /x.sock: Connection refused"}, SERVERS, BLUE)
    with pytest.raises(AnsibleFilterError, match="expected a haproxy_backend_info result"):
        emqx_lb_pool_check(None, SERVERS, BLUE)


def test_nodes_up_in_the_order_asked():
    lb = backend(server("blue1", "DOWN"), server("blue2"), server("green1"), server("green2", "NOLB"))
    assert emqx_lb_nodes_up(lb, SERVERS, ["emqx@g1", "emqx@b2", "emqx@b1", "emqx@g2"]) == ["emqx@g1", "emqx@b2"]
    assert emqx_lb_nodes_up(lb, SERVERS, []) == []


@pytest.mark.parametrize("status", ["DOWN", "MAINT", "DRAIN", "NOLB", "", None])
def test_only_up_is_in_the_pool(status):
    assert emqx_lb_nodes_up(backend(server("blue1", status)), SERVERS, ["emqx@b1"]) == []


def test_nodes_up_fails_for_a_missing_server_or_a_node_without_one():
    with pytest.raises(AnsibleFilterError, match="no server blue2 for node emqx@b2 \\(it has blue1\\)"):
        emqx_lb_nodes_up(backend(server("blue1")), SERVERS, BLUE)
    with pytest.raises(AnsibleFilterError, match="node emqx@x1 has no HAProxy server"):
        emqx_lb_nodes_up(HEALTHY, SERVERS, ["emqx@x1"])
    with pytest.raises(AnsibleFilterError, match="it has none"):
        emqx_lb_nodes_up(backend(), SERVERS, ["emqx@b1"])


def info(*nodes):
    return {"nodes": [{"name": n, "status": s, "connections": 0, "sessions": k} for n, s, k in nodes]}


def test_sessions_left_counts_running_nodes_of_the_colour():
    cluster = info(("emqx@b1", "running", 7), ("emqx@b2", "stopped", 50), ("emqx@g1", "running", 100))
    assert emqx_sessions_left(cluster, BLUE) == 7
    assert emqx_sessions_left(cluster, ["emqx@g1", "emqx@b1"]) == 107


def test_sessions_left_edge_cases():
    cluster = info(("emqx@b1", "running", None), ("emqx@g1", "running", 3))
    assert emqx_sessions_left(cluster, BLUE) == 0  # no count, and emqx@b2 is not listed at all
    assert emqx_sessions_left(cluster, []) == 0
    assert emqx_sessions_left({"nodes": []}, BLUE) == 0
    with pytest.raises(AnsibleFilterError):
        emqx_sessions_left({"failed": True}, BLUE)


def test_filters_are_registered_under_their_names():
    assert FilterModule().filters() == {"emqx_lb_pool_check": emqx_lb_pool_check, "emqx_lb_nodes_up": emqx_lb_nodes_up,
                                        "emqx_lb_session_limits": emqx_lb_session_limits, "emqx_sessions_left": emqx_sessions_left,
                                        "emqx_blue_green_report_lines": emqx_blue_green_report_lines,
                                        "emqx_gate_reasons": emqx_gate_reasons, "emqx_members": emqx_members}


GATE = {"passed": True, "reasons": [], "probes": 3, "probe_failures": 0, "reconnect_ratio": 0.0, "connections_at_start": 200,
        "min_connections": 198, "green_down": []}


def report(**overrides):
    """A report as the role writes it after a full run."""
    out = {"outcome": "upgraded", "duration_s": 61.23, "drain_s": 21.4, "plan": {"theoretical_minimum_s": 20.0},
           "drain_vs_minimum": 1.07, "gate": GATE,
           "events": [{"t": 0.5, "phase": "deploying green"}, {"t": 9.1, "phase": "draining blue"}, {"t": 31.0, "phase": "soaking"},
                      {"t": 40.2, "phase": "finalizing"}, {"t": 55.0, "phase": "done"}]}
    out.update(overrides)
    return out


def test_a_full_run_compares_its_drain_with_the_plan_and_reads_its_gate():
    assert emqx_blue_green_report_lines(report()) == [
        "outcome: upgraded after 61.2 s",
        "drain 21.4 s vs theoretical minimum 20 s (1.07x)",
        "gate passed: 3 probes, 0 failed, reconnect ratio 0.0, connections 200 at the start of the soak and 198 at the lowest",
    ]


def test_a_drain_slowed_by_the_burst_margin_says_at_which_rate_it_evicted():
    planned = report(plan={"theoretical_minimum_s": 20.0, "reconnect_budget": 200, "eviction_rate": 161})
    assert emqx_blue_green_report_lines(planned)[1] == (
        "drain 21.4 s vs theoretical minimum 20 s (1.07x), evicting 161/s to keep every second within the budget of 200/s")
    held = report(plan={"theoretical_minimum_s": 20.0, "reconnect_budget": 200, "eviction_rate": 200, "lb_session_limit": 184})
    assert emqx_blue_green_report_lines(held)[1] == (
        "drain 21.4 s vs theoretical minimum 20 s (1.07x), the load balancers admitting 184 new sessions/s within the budget of 200/s")


def test_a_run_without_a_drain_says_what_it_did_instead_of_placeholders():
    # the finalize entry point after a manual approval: blue was drained by the first run
    lines = emqx_blue_green_report_lines(report(drain_s=None, plan={}, drain_vs_minimum=None, gate={},
                                                events=[{"t": 0.4, "phase": "finalizing"}, {"t": 3.0, "phase": "done"}]))
    assert lines[1] == "no drain in this run: blue was drained by an earlier run; this one removed it (finalizing, done)"
    assert lines[2] == "gate: not part of this run"
    assert not any(" - " in line or "-x" in line or "None" in line for line in lines), lines
    nothing = emqx_blue_green_report_lines(report(outcome="rolled back", drain_s=None, plan={}, gate={}, events=[]))
    assert nothing[1] == "no drain in this run: it changed nothing"


def test_a_rollback_drain_is_not_compared_with_the_plan_of_the_drain_of_blue():
    events = report()["events"][:3] + [{"t": 45.0, "phase": "rolling back"}, {"t": 46.0, "phase": "draining green back"},
                                       {"t": 60.0, "phase": "rolled back"}]
    down = "green nodes not running (stopped, or cut off from the cluster): emqx@g1"
    failed = dict(GATE, passed=False, reasons=[down, "4 of 7 probes failed"], probe_failures=4, probes=7)
    lines = emqx_blue_green_report_lines(report(outcome="rolled back", drain_s=8.0, drain_vs_minimum=None, gate=failed, events=events))
    assert lines[1] == "drain 8 s (draining green back)"
    # a negative duration (the rollback's drain timed from the end of the first drain) is not printed as one
    unmeasured = emqx_blue_green_report_lines(report(outcome="rolled back", drain_s=-67.1, drain_vs_minimum=None, gate=failed, events=events))
    assert unmeasured[1] == "drain (draining green back): its duration was not measured"
    assert lines[2] == ("gate FAILED: %s; 4 of 7 probes failed (7 probes, 4 failed, reconnect ratio 0.0, " % down +
                        "connections 200 at the start of the soak and 198 at the lowest)")


def test_a_drain_with_nothing_to_move_and_values_that_came_back_as_text():
    assert emqx_blue_green_report_lines(report(plan={"theoretical_minimum_s": 0}, drain_s="0.5"))[1] == \
        "drain 0.5 s (nothing to move: theoretical minimum 0 s)"
    assert emqx_blue_green_report_lines(report(plan={}, drain_s=3.25, drain_vs_minimum=None))[1] == "drain 3.2 s"
    assert emqx_blue_green_report_lines(report(drain_vs_minimum=None, gate=dict(GATE, passed="True")))[1:] == [
        "drain 21.4 s vs theoretical minimum 20 s (1.07x)",
        "gate passed: 3 probes, 0 failed, reconnect ratio 0.0, connections 200 at the start of the soak and 198 at the lowest"]


def test_report_lines_need_a_report():
    with pytest.raises(AnsibleFilterError, match="expected an emqx_blue_green report"):
        emqx_blue_green_report_lines("upgraded")


def test_gate_reasons_name_each_cause_with_the_probes_target_and_last_error():
    passing = {"green_down": [], "probes": 4, "probe_failures": 0, "probe_error": "", "reconnect_ratio": 0.01}
    assert emqx_gate_reasons(passing, 0, 0.05, "127.0.0.1:1883") == []
    failing = {"green_down": ["emqx@g2"], "probes": "7", "probe_failures": "2",
               "probe_error": "connection refused", "reconnect_ratio": "0.125"}
    assert emqx_gate_reasons(failing, 1, 0.05, "lb.example:1883") == [
        "green nodes not running (stopped, or cut off from the cluster): emqx@g2",
        "2 of 7 probes to lb.example:1883 failed (last error: connection refused)",
        "reconnect ratio 0.125 above 0.050",
    ]
    # tolerated failures do not fail the gate; a failure with no error recorded says so
    assert emqx_gate_reasons(dict(failing, green_down=[], reconnect_ratio=0), 2, 0.05) == []
    assert emqx_gate_reasons(dict(failing, green_down=[], reconnect_ratio=0, probe_error=""), 0, 0.05) == [
        "2 of 7 probes to the load balancer failed (last error: not recorded)"]


def test_gate_reasons_refuse_what_is_not_the_soak_figures():
    with pytest.raises(AnsibleFilterError):
        emqx_gate_reasons(["emqx@g2"], 0, 0.05)


class _HostVars(dict):
    """hostvars as the filter gets it: a mapping of host to that host's variables."""


def test_members_come_from_the_node_lists_of_one_host_per_cluster():
    blue = [{"name": "emqx@b1", "api_url": "https://b1:18083", "lb_server": "b1", "host": "vm-b1"}]
    green = [{"name": "emqx@g1", "api_url": "https://g1:18083", "lb_server": "g1"}]
    members = emqx_members(blue, green, {"emqx_blue": ["ignored"]}, _HostVars())
    assert members["source"] == "node lists" and members["problems"] == []
    assert members["blue"] == [{"host": "vm-b1", "name": "emqx@b1", "api_url": "https://b1:18083", "lb_server": "b1", "colour": "blue"}]
    assert members["green"][0]["host"] == "emqx@g1" and members["green"][0]["colour"] == "green"


def test_members_come_from_the_inventory_groups_without_node_lists():
    hostvars = _HostVars({"h1": {"emqx_node_name": "emqx@b1", "emqx_api_url": "u1", "emqx_lb_server": "s1"},
                          "h2": {"emqx_node_name": "emqx@g1", "emqx_api_url": "u2"}})
    members = emqx_members([], [], {"emqx_blue": ["h1"], "emqx_green": ["h2"]}, hostvars)
    assert members["source"] == "inventory groups"
    assert [m["name"] for m in members["blue"]] == ["emqx@b1"]
    assert members["problems"] == ["h2 has no emqx_lb_server"]
    assert emqx_members([], [], {"emqx_blue": ["h1"], "emqx_green": ["h2"]}, hostvars, need_lb_server=False)["problems"] == []


def test_bad_node_lists_are_named_before_anything_changes():
    blue = [{"name": "emqx@b1", "api_url": "u1", "lb_server": "s1"}, {"name": "emqx@x", "apiurl": "u"}, "emqx@y"]
    problems = emqx_members(blue, [{"name": "emqx@b1", "api_url": "u1", "lb_server": "s1"}])["problems"]
    assert "emqx_blue_green_blue_nodes[1] has unknown keys apiurl (known: host, name, api_url, lb_server)" in problems
    assert "emqx_blue_green_blue_nodes[1] has no api_url, lb_server" in problems
    assert "emqx_blue_green_blue_nodes[2] must be a dict with name and api_url, got str" in problems
    assert "nodes emqx@b1 are both blue and green" in problems
    assert emqx_members(blue[:1], [])["problems"] == [
        "emqx_blue_green_blue_nodes and emqx_blue_green_green_nodes go together: emqx_blue_green_green_nodes is empty"]


def _lb_read(socket, sessions, limit=0):
    """One looped haproxy_backend_info result: blue1/blue2 holding ``sessions`` each, green idle."""
    servers = [{"name": name, "status": "UP", "current_sessions": sessions} for name in ("blue1", "blue2")]
    servers.append({"name": "green1", "status": "UP", "current_sessions": 0})
    return {"item": socket, "servers": servers, "session_rate_limit": limit}


def test_each_load_balancer_gets_its_share_of_the_session_limit_for_the_clients_it_holds():
    reads = [_lb_read("/run/lb1.sock", 300), _lb_read("/run/lb2.sock", 100)]
    limits = emqx_lb_session_limits(reads, SERVERS, ["emqx@b1", "emqx@b2"], 460)
    assert limits == {"/run/lb1.sock": {"limit": 345, "before": 0}, "/run/lb2.sock": {"limit": 115, "before": 0}}
    # no moving client anywhere yet: an even split
    idle = emqx_lb_session_limits([_lb_read("/run/lb1.sock", 0), _lb_read("/run/lb2.sock", 0)], SERVERS, ["emqx@b1"], 460)
    assert [v["limit"] for v in idle.values()] == [230, 230]
    # a balancer that holds none of them still admits one a second (a client may still come back through it)
    lopsided = emqx_lb_session_limits([_lb_read("/run/lb1.sock", 50), _lb_read("/run/lb2.sock", 0)], SERVERS, ["emqx@b1"], 460)
    assert lopsided["/run/lb1.sock"]["limit"] == 460 and lopsided["/run/lb2.sock"]["limit"] == 1


def test_a_lower_limit_of_its_own_is_kept_and_what_an_interrupted_run_found_goes_back():
    reads = [_lb_read("/run/lb1.sock", 100, limit=100), _lb_read("/run/lb2.sock", 100, limit=230)]
    # lb2 shows the 230 an interrupted run set; the journal says it had 1000 before that
    limits = emqx_lb_session_limits(reads, SERVERS, ["emqx@b1"], 460, {"/run/lb2.sock": 1000})
    assert limits == {"/run/lb1.sock": {"limit": 100, "before": 100}, "/run/lb2.sock": {"limit": 230, "before": 1000}}


def test_session_limits_need_the_limits_read_and_a_positive_limit():
    with pytest.raises(AnsibleFilterError, match="at least 1, got 0"):
        emqx_lb_session_limits([_lb_read("/run/lb1.sock", 1)], SERVERS, ["emqx@b1"], 0)
    with pytest.raises(AnsibleFilterError, match="looped haproxy_backend_info results"):
        emqx_lb_session_limits([{"servers": []}], SERVERS, ["emqx@b1"], 460)
