# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the emqx_blue_green role: what HAProxy and the cluster show about a set of
EMQX nodes, computed here instead of in chains of map/extract/selectattr in the role's tasks."""

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


def emqx_sessions_left(info, nodes):
    """Sessions still held by those of ``nodes`` that the cluster shows running."""
    if not isinstance(info, dict) or not isinstance(info.get("nodes"), list):
        raise AnsibleFilterError("expected an emqx_cluster_info result with a list of nodes")
    wanted = set(nodes or ())
    return sum(int(node.get("sessions") or 0) for node in info["nodes"]
               if node.get("name") in wanted and node.get("status") == "running")


class FilterModule:
    def filters(self):
        return {
            "emqx_lb_pool_check": emqx_lb_pool_check,
            "emqx_lb_nodes_up": emqx_lb_nodes_up,
            "emqx_sessions_left": emqx_sessions_left,
        }
