"""The run picture and the blue-green arithmetic."""
import xml.etree.ElementTree as ET

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.bluegreen import drain_progress, eviction_rate, plan, split_budget
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.report import _nice_max, connections_svg


def test_svg_has_one_line_per_node_and_the_notes():
    samples = [{"t": 0, "connections": {"b1": 300, "g1": 0}}, {"t": 10, "connections": {"b1": 0, "g1": 300}}]
    svg = connections_svg(samples, {"b1": "blue", "g1": "green"}, "Upgrade", ["sessions lost: 0"])
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2
    assert "sessions lost: 0" in svg and "Upgrade" in svg


def test_reconnects_per_second_are_drawn_below_with_the_budget_and_long_names_fit_the_legend():
    long_name = "emqx-blue-1@emqx-blue-1.emqx-headless.production.svc.cluster.local"
    samples = [{"t": 0.0, "connections": {long_name: 100}}, {"t": 1.0, "connections": {long_name: 50}}]
    svg = connections_svg(samples, {long_name: "blue"}, rates=[{"t": 1.0, "per_s": 50.0}], budget=40)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    width = float(root.get("width"))
    legend = next(t for t in root.iter(ns + "text") if t.text == long_name)
    assert float(legend.get("x")) + 7 * len(long_name) <= width  # the name ends inside the picture
    titles = [t.text for t in root.iter(ns + "text")]
    assert "Reconnects per second (budget 40/s, peak 50.0/s)" in titles and "budget" in titles
    assert len(list(root.iter(ns + "polyline"))) == 2  # the node, and the arrivals per second
    assert [line for line in root.iter(ns + "line") if line.get("stroke-dasharray")], "the budget line is dashed"
    without = ET.fromstring(connections_svg(samples, {long_name: "blue"}))
    assert float(without.get("height")) < float(root.get("height"))


def test_axis_maximum_is_the_next_round_number():
    assert [_nice_max(v) for v in (1, 3, 333, 501, 1001)] == [1, 5, 500, 1000, 2000]


def test_budget_split_follows_connections_and_never_exceeds_the_budget():
    rates = split_budget({"a": 600, "b": 300, "c": 100}, 100)
    assert rates == {"a": 60, "b": 30, "c": 10}
    uneven = split_budget({"a": 201, "b": 200, "c": 200}, 100)
    assert sum(uneven.values()) == 100 and min(uneven.values()) >= 33


def test_plan_parallel_pays_the_waits_once_sequential_per_node():
    info = {"nodes": [{"name": n, "connections": 200, "sessions": 200, "status": "running"} for n in ("a", "b", "c")]}
    parallel = plan(info, ["a", "b", "c"], 100, 100, 5, 10, "parallel")
    sequential = plan(info, ["a", "b", "c"], 100, 100, 5, 10, "sequential")
    assert parallel["theoretical_minimum_s"] == 6 + 15
    assert sequential["predicted_s"] == 3 * (5 + 2 + 10)
    assert parallel["predicted_s"] < sequential["predicted_s"]


def test_the_eviction_rate_leaves_room_for_the_random_bunching_of_reconnects():
    # R + margin * sqrt(R) <= budget, the largest such R
    assert [eviction_rate(b, 3) for b in (1, 20, 100, 200, 500, 2000)] == [1, 10, 74, 161, 437, 1870]
    for budget in (7, 50, 200, 999):
        rate = eviction_rate(budget, 3)
        assert rate + 3 * rate ** 0.5 <= budget < (rate + 1) + 3 * (rate + 1) ** 0.5
    assert eviction_rate(200, 0) == 200


def test_a_plan_with_a_margin_splits_the_eviction_rate_and_predicts_from_it():
    info = {"nodes": [{"name": n, "connections": 322, "sessions": 322, "status": "running"} for n in ("a", "b", "c")]}
    parallel = plan(info, ["a", "b", "c"], 200, 100, 5, 10, "parallel", margin=3)
    assert parallel["eviction_rate_cap"] == 161
    # the minimum is the floor the budget sets; the prediction is what the margin allows, in whole
    # seconds of batches: 322 connections at 53-54 a second take 7 batches
    assert parallel["theoretical_minimum_s"] == round(966 / 200.0 + 15, 1)
    assert parallel["predicted_s"] == 7 + 15
    # ... and 7 batches of 49 hold them too, with 5% to spare: the same drain, 147 reconnects a second instead of 161
    assert parallel["conn_evict_rates"] == {"a": 49, "b": 49, "c": 49} and parallel["eviction_rate"] == 147
    assert 49 * 7 >= 322 * 1.05 > 48 * 7
    sequential = plan(info, ["a", "b", "c"], 200, 100, 5, 10, "sequential", margin=3)
    # 322 at 161 a second fill both of their 2 batches: nothing to trim
    assert sequential["conn_evict_rates"] == {"a": 161, "b": 161, "c": 161} and sequential["eviction_rate"] == 161
    assert sequential["predicted_s"] == sequential["sequential_estimate_s"] == 3 * (5 + 2 + 10)


def test_rates_are_trimmed_only_as_far_as_the_drain_keeps_its_whole_seconds():
    # 10,000 clients on three nodes at a budget of 500: 145-146 a second take 23 batches, and fewer a second
    # would not leave 5% room in 23, so the rates stay
    info = {"nodes": [{"name": n, "connections": c, "sessions": c, "status": "running"}
                      for n, c in (("a", 3333), ("b", 3334), ("c", 3334))]}
    parallel = plan(info, ["a", "b", "c"], 500, 500, 3, 3, "parallel", margin=3)
    assert sum(parallel["conn_evict_rates"].values()) == parallel["eviction_rate"] == parallel["eviction_rate_cap"] == 437
    assert parallel["predicted_s"] == 23 + 6
    # uneven nodes: the rounding remainder goes where it shortens the drain - 100 connections at 6 a
    # second (the share rounded down) would take 17 batches, the other nodes 16
    info["nodes"][0].update(connections=100, sessions=100)
    uneven = plan(info, ["a", "b", "c"], 500, 500, 3, 3, "parallel", margin=3)
    seconds = {n: -(-c // uneven["conn_evict_rates"][n]) for n, c in (("a", 100), ("b", 3334), ("c", 3334))}
    assert max(seconds.values()) == 16 and uneven["predicted_s"] == 16 + 6 and uneven["eviction_rate"] <= 437, uneven


def test_with_the_load_balancers_holding_the_reconnects_the_nodes_evict_at_the_budget():
    info = {"nodes": [{"name": n, "connections": c, "sessions": c, "status": "running"}
                      for n, c in (("a", 3333), ("b", 3334), ("c", 3334))]}
    held = plan(info, ["a", "b", "c"], 500, 500, 3, 3, "parallel", margin=3, lb_limit=True)
    # the load balancers admit 460 a second between them, 437 of them for the drain (5% left to other clients);
    # evicting 478 a second, the last of 10,001 clients is let back in 1.8 s after the last of 21 batches (2 s
    # allowed): 21 batches, not 23
    assert held["lb_session_limit"] == 460 and held["burst_margin"] is None
    assert held["eviction_rate_cap"] == 478 and held["eviction_rate"] == sum(held["conn_evict_rates"].values()) <= 478
    assert held["predicted_s"] == 21 + 6 and held["total_connections"] / float(held["lb_session_limit"]) - 21 <= 2
    assert plan(info, ["a", "b", "c"], 500, 500, 3, 3, "parallel", margin=3)["predicted_s"] == 23 + 6
    # an hour's drain: evicting faster than the load balancers admit would keep a growing crowd in their listen
    # queues, so the nodes evict at what they admit less the 5% left to other clients, and nobody queues
    big = {"nodes": [{"name": n, "connections": 600000, "sessions": 600000, "status": "running"} for n in ("a", "b", "c")]}
    hour = plan(big, ["a", "b", "c"], 500, 500, 3, 3, "parallel", lb_limit=True)
    seconds = max(-(-600000 // r) for r in hour["conn_evict_rates"].values())
    assert 430 <= hour["eviction_rate"] <= 460 * 0.95 and 1800000 / (460 * 0.95) - seconds <= 2, hour
    # node after node, each node's own clients count
    one_by_one = plan(info, ["a", "b", "c"], 500, 500, 3, 3, "sequential", lb_limit=True)
    assert one_by_one["conn_evict_rates"] == {"a": 500, "b": 500, "c": 500} and one_by_one["lb_session_limit"] == 460
    assert one_by_one["sequential_estimate_s"] == 3 * (3 + 7 + 3)
    # a budget too small to share still admits one a second
    assert plan(info, ["a"], 1, 1, 3, 3, lb_limit=True)["lb_session_limit"] == 1


def test_drain_progress_done_only_when_prohibiting_and_empty():
    info = {"nodes": [{"name": "a", "status": "running", "connections": 0, "sessions": 0}],
            "evacuations": [{"node": "a", "state": "prohibiting", "stats": {"current_connected": 0, "current_sessions": 3,
                                                                            "initial_connected": 10, "initial_sessions": 10}}]}
    assert drain_progress(info, ["a"], 10, 10, 5)["done"] is False
    info["evacuations"][0]["stats"]["current_sessions"] = 0
    assert drain_progress(info, ["a"], 10, 10, 5)["done"] is True
    info["nodes"][0]["status"] = "stopped"
    assert drain_progress(info, ["a"], 10, 10, 5)["stopped"] == ["a"]
