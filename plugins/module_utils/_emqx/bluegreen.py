# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Arithmetic of a blue-green move: the plan (per-node eviction rates within a total reconnect
budget, predicted and minimum durations) and the drain progress read from emqx_cluster_info."""

from __future__ import annotations

import math

# States before the connections are gone: the takeover wait still lies ahead.
BEFORE_TAKEOVER = ("waiting_health_check", "evicting_conns", "waiting_takeover")
# Most points a time series that grows one observation at a time keeps (older points are thinned
# evenly): Ansible re-templates a fact whole at every update, so its size is the cost of a step.
MAX_TIMELINE = 200
# Connections a node may gain between the plan and its first eviction (clients the load balancer
# still sends it during wait_health_check): rates trimmed to whole seconds keep this much room.
ARRIVALS_HEADROOM = 1.05
# Share of the reconnect budget the load balancers are told to admit while they hold the drain's
# reconnects to it. HAProxy counts new sessions per one-second period and judges the last second
# from the current count and the previous period's (src/freq_ctr.c); measured at 10,000 clients
# the busiest one-second window the clients saw came to 1.045-1.07 times the limit it was given.
LB_LIMIT_SHARE = 0.92
# How far the evictions may run ahead of what the load balancers admit: the clients held back meanwhile
# wait in their listen queues, each at most this many seconds longer than it would have.
LB_QUEUE_SECONDS = 2.0
# Share of what the load balancers admit that a drain leaves to other clients (devices reconnecting
# after a network flap, new ones): the limit counts them too, and a drain that took it all would
# queue them without end. Only a drain longer than LB_QUEUE_SECONDS allows for comes to it.
LB_OTHER_ARRIVALS = 0.05


def split_budget(counts, budget):
    """Per-node rates proportional to each node's connections, summing to at most ``budget``,
    so that every node finishes at the same time and the budget is used until the end."""
    names = sorted(counts)
    if not names:
        return {}
    total = sum(max(0, counts[n]) for n in names)
    if total == 0:
        share = max(1, budget // len(names))
        return {n: share for n in names}
    rates = {n: max(1, int(budget * max(0, counts[n]) / float(total))) for n in names}
    # hand the rounding remainder to the nodes that would take longest, so the whole budget is used
    # where it shortens the drain (a small node rounded down can otherwise be the last to finish)
    leftover = budget - sum(rates.values())
    for name in sorted(names, key=lambda n: (-max(0, counts[n]) / float(rates[n]), -counts[n])):
        if leftover <= 0:
            break
        rates[name] += 1
        leftover -= 1
    return rates


def eviction_rate(budget, margin):
    """The total eviction rate R whose one-second reconnect peak stays within ``budget``:
    R + margin * sqrt(R) <= budget, and at least 1.

    EMQX evicts each node's rate in one batch per second and the clients come back at random
    moments after it, so a one-second window as the clients feel it holds the mean rate give or
    take about sqrt(R); evicting at the budget itself overshoots it by 10-20 % (the lab measures a
    peak of 216-225/s at 200/s). ``margin`` is how many sqrt(R) to keep below the budget."""
    if margin <= 0:
        return budget
    root = (-margin + math.sqrt(margin * margin + 4.0 * budget)) / 2.0
    return max(1, int(math.floor(root * root + 1e-9)))


def whole_seconds(conns, rates):
    """Seconds of eviction each node needs at ``rates``: EMQX evicts whole batches, one a second."""
    return {n: -(-max(0, conns[n]) // max(1, rates[n])) for n in rates}


def trim_to_whole_seconds(conns, rates, seconds):
    """The lowest rates that still evict each node's connections, and a few more, in ``seconds``
    batches (never above ``rates``). A drain that needs 6.2 s of batches takes 7 whole seconds
    anyway: at the rates that fill the 7th, every second holds fewer reconnects for the same drain."""
    return {n: min(rates[n], max(1, int(math.ceil(max(0, conns[n]) * ARRIVALS_HEADROOM / float(seconds[n])))))
            if seconds[n] else rates[n] for n in rates}


def lb_session_limit(budget):
    """New sessions a second the load balancers together admit so that no one-second window holds more than ``budget``."""
    return max(1, int(budget * LB_LIMIT_SHARE))


def eviction_rate_behind_limit(conns, budget, limit):
    """The fastest total eviction rate, within ``budget``, at which evicting ``conns`` connections ends
    no more than LB_QUEUE_SECONDS before load balancers admitting ``limit`` a second, less the share
    left to other clients (LB_OTHER_ARRIVALS), let them all back in."""
    behind = max(0, conns) / (limit * (1 - LB_OTHER_ARRIVALS)) - LB_QUEUE_SECONDS
    if behind <= 0:
        return budget
    return max(1, min(budget, int(max(0, conns) / behind)))


def plan(info, drain_nodes, budget, session_budget, wait_health_check, wait_takeover, strategy="parallel", margin=0.0,
         lb_limit=False):
    """Numbers for the procedure: what moves, at which rates, and how long it should take.
    The theoretical minimum is the floor the budget sets (every connection moved at the full
    budget). Without ``lb_limit`` the rates and the prediction use the eviction rate the margin
    leaves. With it the load balancers admit a little less than the budget (``lb_session_limit``)
    whatever the clients do, so the nodes evict at the budget for as long as the load balancers
    keep up within LB_QUEUE_SECONDS, and beyond that at what they admit less the share left to
    other clients (LB_OTHER_ARRIVALS)."""
    nodes = {n["name"]: n for n in info.get("nodes", [])}
    conns = {n: (nodes.get(n) or {}).get("connections") or 0 for n in drain_nodes}
    sessions = {n: (nodes.get(n) or {}).get("sessions") or 0 for n in drain_nodes}
    total_conns = sum(conns.values())
    disconnected = sum(max(0, sessions[n] - conns[n]) for n in drain_nodes)
    waits = float(wait_health_check) + float(wait_takeover)
    minimum = total_conns / float(budget) + waits + disconnected / float(session_budget)
    limit = lb_session_limit(budget) if lb_limit else None
    if limit:
        rate = eviction_rate_behind_limit(total_conns, budget, limit)
        full = {n: eviction_rate_behind_limit(conns[n], budget, limit) for n in drain_nodes}
    else:
        rate = eviction_rate(budget, margin)
        full = {n: rate for n in drain_nodes}  # node after node, each at the whole rate
    one_by_one = whole_seconds(conns, full)
    sequential = sum(float(wait_health_check) + one_by_one[n] + float(wait_takeover)
                     + max(0, sessions[n] - conns[n]) / float(session_budget) for n in drain_nodes)
    if strategy == "parallel":
        rates = split_budget(conns, rate)
        # every node drains for as long as the slowest one needs
        slowest = max(whole_seconds(conns, rates).values() or [0])
        rates = trim_to_whole_seconds(conns, rates, {n: slowest for n in rates})
        session_rates = split_budget({n: max(1, sessions[n]) for n in drain_nodes}, session_budget)
        predicted = slowest + waits + disconnected / float(session_budget)
        evicting = sum(rates.values())
    else:
        rates = trim_to_whole_seconds(conns, full, one_by_one)
        session_rates = {n: session_budget for n in drain_nodes}
        predicted = sequential
        evicting = max(rates.values() or [rate])
        rate = max(full.values() or [rate])
    return {
        "strategy": strategy, "nodes": list(drain_nodes), "connections": conns, "sessions": sessions,
        "total_connections": total_conns, "total_sessions": sum(sessions.values()),
        "disconnected_sessions": disconnected, "conn_evict_rates": rates, "sess_evict_rates": session_rates,
        "reconnect_budget": budget, "session_budget": session_budget, "eviction_rate": evicting, "eviction_rate_cap": rate,
        "burst_margin": None if lb_limit else margin, "lb_session_limit": limit,
        "theoretical_minimum_s": round(minimum, 1), "sequential_estimate_s": round(sequential, 1),
        "predicted_s": round(predicted, 1),
    }


def drain_progress(info, drain_nodes, budget, session_budget, wait_takeover, wait_health_check=0.0):
    """Where the drain of ``drain_nodes`` stands: done, remaining work, ETA, stopped nodes."""
    nodes = {n["name"]: n for n in info.get("nodes", [])}
    evacuations = {e.get("node"): e for e in info.get("evacuations", [])}
    per_node = {}
    remaining_c = remaining_s = initial = 0
    pending_takeover = pending_health_check = False
    stopped = []
    for name in drain_nodes:
        node = nodes.get(name) or {}
        running = node.get("status") == "running"
        entry = evacuations.get(name)
        stats = (entry or {}).get("stats") or {}
        conns = stats.get("current_connected", node.get("connections") or 0) if entry else (node.get("connections") or 0)
        sessions = stats.get("current_sessions", node.get("sessions") or 0) if entry else (node.get("sessions") or 0)
        state = (entry or {}).get("state") or ("disabled" if running else "stopped")
        if not running:
            stopped.append(name)
            conns = sessions = 0
        per_node[name] = {"state": state, "connections": conns, "sessions": sessions, "running": running}
        remaining_c += conns or 0
        remaining_s += sessions or 0
        initial += (stats.get("initial_connected") or 0) + (stats.get("initial_sessions") or 0)
        pending_takeover = pending_takeover or state in BEFORE_TAKEOVER
        pending_health_check = pending_health_check or state == "waiting_health_check"
    done = all(v["running"] and v["state"] == "prohibiting" and not v["connections"] and not v["sessions"] for v in per_node.values())
    eta = remaining_c / float(budget) + (float(wait_takeover) if pending_takeover else 0.0) \
        + (float(wait_health_check) if pending_health_check else 0.0) + max(0, remaining_s - remaining_c) / float(session_budget)
    percent = 100.0 if done else (round(100.0 * (1 - (remaining_c + remaining_s) / float(initial)), 1) if initial else 0.0)
    return {"done": done, "nodes": per_node, "remaining_connections": remaining_c, "remaining_sessions": remaining_s,
            "stopped": stopped, "eta_s": round(0.0 if done else eta, 1), "percent": max(0.0, percent)}


def sample(info, t):
    """One point of the connections-per-node time series (running nodes only)."""
    return {"t": round(float(t), 1),
            "connections": {n["name"]: n.get("connections") or 0 for n in info.get("nodes", []) if n.get("status") == "running"},
            "sessions": {n["name"]: n.get("sessions") or 0 for n in info.get("nodes", []) if n.get("status") == "running"}}


def thin(points):
    """Every other point, keeping the first: half the points, still spread over the whole time."""
    return points[:1] + points[2::2]


def timeline_append(samples, point, max_points=MAX_TIMELINE):
    """``samples`` with ``point`` appended, thinned once longer than ``max_points`` so that a long
    run's time series - and the cost of copying it at every observation - stays bounded."""
    out = list(samples) + [point]
    return thin(out) if len(out) > max_points else out
