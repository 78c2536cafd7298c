# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the emqx_blue_green role: what HAProxy and the cluster show about a set of
EMQX nodes, computed here instead of in chains of map/extract/selectattr in the role's tasks, and
the lines its summary prints."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _servers_by_name(lb):
    """HAProxy servers keyed by name, from a zerodowntime.cluster.haproxy_backend_info result."""
    if not isinstance(lb, dict):
        raise AnsibleFilterError("expected a haproxy_backend_info result (a dict), got %s" % type(lb).__name__)
    if isinstance(lb.get("by_name"), dict):
        return lb["by_name"]
    if isinstance(lb.get("servers"), list):
        return {server.get("name"): server for server in lb["servers"]}
    raise AnsibleFilterError("the HAProxy backend was not read (no servers in the result): %s" % (lb.get("msg") or "no message"))


def emqx_lb_pool_check(lb, node_servers, nodes, http_checked=(), in_pool=()):
    """What the HAProxy backend lacks before a blue-green move.

    ``nodes`` must each have a server in the backend, the servers of ``http_checked`` must have an
    HTTP (layer 7) health check result, the servers of ``in_pool`` must be UP."""
    by_name = _servers_by_name(lb)
    node_servers = node_servers or {}

    def server_of(node):
        return node_servers.get(node) or ""

    servers = [server_of(node) for node in nodes or ()]
    missing = []
    for server in servers:
        if server not in by_name and server not in missing:
            missing.append(server)
    not_http_checked = [server_of(node) for node in http_checked or () if server_of(node) in by_name
                        and not str(by_name[server_of(node)].get("check_status") or "").startswith("L7")]
    not_up = [server_of(node) for node in in_pool or () if server_of(node) in by_name
              and by_name[server_of(node)].get("status") != "UP"]
    found = [[server.get("name"), server.get("status"), server.get("check_status")] for server in lb.get("servers") or by_name.values()]
    return {
        "ok": not (missing or not_http_checked or not_up),
        "servers": servers,
        "missing": missing,
        "not_http_checked": not_http_checked,
        "not_up": not_up,
        "found": found,
    }


def emqx_lb_nodes_up(lb, node_servers, nodes):
    """The nodes of ``nodes`` whose HAProxy server is UP (in the pool), in the order given."""
    by_name = _servers_by_name(lb)
    node_servers = node_servers or {}
    up = []
    for node in nodes or ():
        server = node_servers.get(node)
        if not server:
            raise AnsibleFilterError("node %s has no HAProxy server (emqx_lb_server)" % node)
        if server not in by_name:
            raise AnsibleFilterError("the HAProxy backend has no server %s for node %s (it has %s)"
                                     % (server, node, ", ".join(sorted(str(name) for name in by_name)) or "none"))
        if by_name[server].get("status") == "UP":
            up.append(node)
    return up


def emqx_lb_session_limits(lbs, node_servers, nodes, limit, recorded=None):
    """Each load balancer's share of ``limit`` new sessions a second, and the limit to put back after.

    ``lbs``: the results of M(haproxy_backend_info) looped over the sockets (each with C(item), the
    socket). A balancer's share follows how many sessions the servers of ``nodes`` hold on it now:
    their clients are the ones that will come back through it. A balancer whose limit is already
    lower keeps it. ``recorded`` (socket -> limit) are the limits an earlier, interrupted run found
    before it changed them: they, not what that run left, are what goes back."""
    recorded = recorded or {}
    node_servers = node_servers or {}
    limit = int(limit)
    if limit < 1:
        raise AnsibleFilterError("the load balancers' session limit must be at least 1, got %s" % limit)
    held = {}
    found = {}
    for lb in lbs or ():
        if not isinstance(lb, dict) or "item" not in lb or "session_rate_limit" not in lb:
            raise AnsibleFilterError("expected looped haproxy_backend_info results with item and session_rate_limit")
        by_name = _servers_by_name(lb)
        held[lb["item"]] = sum(int(by_name.get(node_servers.get(node), {}).get("current_sessions") or 0) for node in nodes or ())
        found[lb["item"]] = int(lb["session_rate_limit"])
    total = sum(held.values())
    shares = {}
    for socket, sessions in held.items():
        share = max(1, int(limit * (sessions / float(total) if total else 1.0 / len(held))))
        before = int(recorded.get(socket, found[socket]))
        shares[socket] = {"limit": min(share, before) if before > 0 else share, "before": before}
    return shares


def emqx_sessions_left(info, nodes):
    """Sessions still held by those of ``nodes`` that the cluster shows running."""
    if not isinstance(info, dict) or not isinstance(info.get("nodes"), list):
        raise AnsibleFilterError("expected an emqx_cluster_info result with a list of nodes")
    wanted = set(nodes or ())
    return sum(int(node.get("sessions") or 0) for node in info["nodes"]
               if node.get("name") in wanted and node.get("status") == "running")


def _number(value):
    """A float from a report value (numbers may come back as strings from templating), else None."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _seconds(value):
    return ("%.1f" % value).rstrip("0").rstrip(".") if value is not None else "?"


def emqx_blue_green_report_lines(report):
    """What a blue-green run did, in three lines: its outcome, its drain, its gate. A run that did not
    drain (a finalize after a manual approval, for example) says so and names the phases it went through;
    a drain is compared with the plan's theoretical minimum only when both belong to the same move."""
    if not isinstance(report, dict):
        raise AnsibleFilterError("expected an emqx_blue_green report (a dict), got %s" % type(report).__name__)
    phases = []
    for event in report.get("events") or []:
        phase = str(event.get("phase") or "")
        if phase and phase not in phases:
            phases.append(phase)
    moves = [phase for phase in phases if phase.startswith("draining")]
    outcome = "outcome: %s after %s s" % (report.get("outcome"), _seconds(_number(report.get("duration_s"))))

    drain_s = _number(report.get("drain_s"))
    minimum = _number((report.get("plan") or {}).get("theoretical_minimum_s"))
    if drain_s is None:
        did = ("it went through " + ", ".join(phases)) if phases else "it changed nothing"
        if report.get("outcome") == "upgraded" and "finalizing" in phases:
            did = "blue was drained by an earlier run; this one removed it (" + ", ".join(phases) + ")"
        drain = "no drain in this run: " + did
    elif drain_s < 0:
        # a second move in the same run (a rollback after a failed gate) may be timed from the first one's end
        drain = "drain (%s): its duration was not measured" % (moves[-1] if moves else "drain")
    elif moves and moves[-1] != "draining blue":
        drain = "drain %s s (%s)" % (_seconds(drain_s), moves[-1])
    elif minimum is not None and minimum > 0:
        ratio = _number(report.get("drain_vs_minimum"))
        ratio = ratio if ratio is not None else drain_s / minimum
        drain = "drain %s s vs theoretical minimum %s s (%sx)" % (_seconds(drain_s), _seconds(minimum), ("%.2f" % ratio))
        plan = report.get("plan") or {}
        if plan.get("lb_session_limit"):
            drain += ", the load balancers admitting %s new sessions/s within the budget of %s/s" % (plan["lb_session_limit"], plan.get("reconnect_budget"))
        elif plan.get("eviction_rate") is not None and plan.get("eviction_rate") != plan.get("reconnect_budget"):
            # the minimum is at the full budget; say why the drain could not reach it
            drain += ", evicting %s/s to keep every second within the budget of %s/s" % (plan["eviction_rate"], plan.get("reconnect_budget"))
    elif minimum is not None:
        drain = "drain %s s (nothing to move: theoretical minimum 0 s)" % _seconds(drain_s)
    else:
        drain = "drain %s s" % _seconds(drain_s)

    gate = report.get("gate") or {}
    if not gate:
        gate_line = "gate: not part of this run"
    else:
        facts = "%s probes, %s failed, reconnect ratio %s, connections %s at the start of the soak and %s at the lowest" % (
            gate.get("probes"), gate.get("probe_failures"), gate.get("reconnect_ratio"), gate.get("connections_at_start"),
            gate.get("min_connections"))
        if _truthy(gate.get("passed")):
            gate_line = "gate passed: " + facts
        else:
            gate_line = "gate FAILED: %s (%s)" % ("; ".join(str(r) for r in gate.get("reasons") or []) or "no reason given", facts)
    return [outcome, drain, gate_line]


def emqx_gate_reasons(soak, max_probe_failures, max_reconnect_ratio, probe_target="the load balancer"):
    """Why a soak window fails the automated gate, one sentence per cause; [] when it passes.

    ``soak`` holds what the window saw: ``green_down`` (green nodes not running), ``probes`` and
    ``probe_failures`` (MQTT probes through the load balancer), ``probe_error`` (the last failure's
    error) and ``reconnect_ratio`` (the share of connections lost at the lowest point)."""
    if not isinstance(soak, dict):
        raise AnsibleFilterError("expected the soak window's figures (a dict), got %s" % type(soak).__name__)
    reasons = []
    green_down = list(soak.get("green_down") or [])
    if green_down:
        reasons.append("green nodes not running (stopped, or cut off from the cluster): %s" % ", ".join(str(node) for node in green_down))
    failures = int(_number(soak.get("probe_failures")) or 0)
    if failures > int(_number(max_probe_failures) or 0):
        reasons.append("%d of %d probes to %s failed (last error: %s)" % (
            failures, int(_number(soak.get("probes")) or 0), probe_target, soak.get("probe_error") or "not recorded"))
    ratio = float(_number(soak.get("reconnect_ratio")) or 0.0)
    limit = float(_number(max_reconnect_ratio) or 0.0)
    if ratio > limit:
        reasons.append("reconnect ratio %.3f above %.3f" % (ratio, limit))
    return reasons


MEMBER_KEYS = ("name", "api_url", "lb_server")


def _listed_members(entries, colour, option, need_lb_server):
    members, problems = [], []
    if not isinstance(entries, list):
        return [], ["%s must be a list of nodes, got %s" % (option, type(entries).__name__)]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append("%s[%d] must be a dict with name and api_url, got %s" % (option, index, type(entry).__name__))
            continue
        unknown = sorted(set(entry) - set(MEMBER_KEYS) - {"host"})
        lacking = [key for key in ("name", "api_url") + (("lb_server",) if need_lb_server else ()) if not entry.get(key)]
        if unknown:
            problems.append("%s[%d] has unknown keys %s (known: host, %s)" % (option, index, ", ".join(unknown), ", ".join(MEMBER_KEYS)))
        if lacking:
            problems.append("%s[%d] has no %s" % (option, index, ", ".join(lacking)))
        if not lacking:
            members.append({"host": str(entry.get("host") or entry["name"]), "name": str(entry["name"]), "api_url": str(entry["api_url"]),
                            "lb_server": str(entry.get("lb_server") or ""), "colour": colour})
    return members, problems


def _grouped_members(groups, hostvars, group, colour, need_lb_server):
    members, problems = [], []
    hosts = list((groups or {}).get(group) or [])
    if not hosts:
        return [], ["inventory group %s (%s) is empty or missing" % (group, colour)]
    for host in hosts:
        host_vars = hostvars[host]
        lacking = [var for var in ("emqx_node_name", "emqx_api_url") + (("emqx_lb_server",) if need_lb_server else ()) if var not in host_vars]
        if lacking:
            problems.extend("%s has no %s" % (host, var) for var in lacking)
            continue
        members.append({"host": host, "name": str(host_vars["emqx_node_name"]), "api_url": str(host_vars["emqx_api_url"]),
                        "lb_server": str(host_vars.get("emqx_lb_server") or ""), "colour": colour})
    return members, problems


def emqx_members(blue_nodes, green_nodes, groups=None, hostvars=None, blue_group="emqx_blue", green_group="emqx_green", need_lb_server=True):
    """The nodes of a blue-green move, each ``{host, name, api_url, lb_server, colour}``: from the
    node lists when they are given (one inventory host per cluster, as a fleet inventory has it),
    else from the hosts of the two inventory groups; and what the description lacks."""
    problems = []
    if blue_nodes or green_nodes:
        source = "node lists"
        if not (blue_nodes and green_nodes):
            problems.append("emqx_blue_green_blue_nodes and emqx_blue_green_green_nodes go together: %s is empty"
                            % ("emqx_blue_green_green_nodes" if blue_nodes else "emqx_blue_green_blue_nodes"))
        blue, found = _listed_members(blue_nodes or [], "blue", "emqx_blue_green_blue_nodes", need_lb_server)
        problems.extend(found)
        green, found = _listed_members(green_nodes or [], "green", "emqx_blue_green_green_nodes", need_lb_server)
        problems.extend(found)
    else:
        source = "inventory groups"
        blue, found = _grouped_members(groups, hostvars, blue_group, "blue", need_lb_server)
        problems.extend(found)
        green, found = _grouped_members(groups, hostvars, green_group, "green", need_lb_server)
        problems.extend(found)
    # a host in both groups; a node in both lists (a node listed without a host is its own host)
    key, what = ("host", "hosts") if source == "inventory groups" else ("name", "nodes")
    both = sorted({m[key] for m in blue} & {m[key] for m in green})
    if both:
        problems.append("%s %s are both blue and green" % (what, ", ".join(both)))
    for side in (blue, green):
        names = [m["name"] for m in side]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            problems.append("nodes %s are listed more than once" % ", ".join(twice))
    return {"source": source, "blue": blue, "green": green, "problems": problems}


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


class FilterModule:
    def filters(self):
        return {
            "emqx_lb_pool_check": emqx_lb_pool_check,
            "emqx_lb_nodes_up": emqx_lb_nodes_up,
            "emqx_lb_session_limits": emqx_lb_session_limits,
            "emqx_sessions_left": emqx_sessions_left,
            "emqx_blue_green_report_lines": emqx_blue_green_report_lines,
            "emqx_gate_reasons": emqx_gate_reasons,
            "emqx_members": emqx_members,
        }
