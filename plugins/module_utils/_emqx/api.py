# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""What the modules read and do on EMQX, with v5 and 4.4 answers normalised to one shape."""

from __future__ import annotations

import re

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import V4

# Reasons EMQX puts into 400 messages ("error on node 'x': already_started").
REASONS = ("already_started", "not_started", "eviction_agent_busy", "nothing_to_balance")

EVACUATION_STATES = ("waiting_health_check", "evicting_conns", "waiting_takeover", "evicting_sessions", "prohibiting")
REBALANCE_STATES = ("wait_health_check", "evicting_conns", "wait_takeover", "evicting_sessions")


def reason_of(error):
    """The EMQX reason atom carried by an ApiError, or None."""
    text = "%s %s" % (error.message or "", error.code or "")
    for reason in REASONS:
        if reason in text:
            return reason
    return None


def is_rpc_error(error):
    """503 RPC_ERROR (5.x) or 4.4's "Error communicating with node": the outcome is unknown."""
    if error.status == 503 or error.code == "RPC_ERROR":
        return True
    return bool(error.message and re.search(r"error communicating with node", str(error.message), re.IGNORECASE))


def number(value, default=0):
    """EMQX sends goals and averages as floats although the schema says integer."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def normalize_node(raw):
    """One /nodes entry as {name, status, role, version, edition, connections, live_connections}."""
    status = str(raw.get("node_status", "")).lower()
    sessions = raw.get("connections")
    live = raw.get("live_connections")
    return {
        "name": raw.get("node"),
        "status": status,
        "role": raw.get("role"),
        "version": raw.get("version"),
        "edition": raw.get("edition"),
        "uptime": raw.get("uptime"),
        # /nodes 'connections' counts sessions (channels); 'live_connections' counts connected clients.
        "sessions": int(number(sessions)) if sessions is not None else None,
        "connections": int(number(live)) if live is not None else None,
        "live_connections": int(number(live)) if live is not None else None,
    }


def unlisted(what, nodes, api_version):
    """``what`` ("node emqx@x", "migrate_to: emqx@y") is missing from /nodes: say what that can mean on
    this API version. EMQX 5 lists running nodes and stopped core nodes, never a stopped replicant
    (emqx_mgmt:list_nodes/0); 4.4 lists running nodes only."""
    if api_version == "v4":
        why = "or is not running (EMQX 4.4 lists running nodes only)"
    else:
        why = "or is a replicant that is not running (EMQX 5 lists stopped core nodes, never stopped replicants)"
    return "%s is not a member of this cluster, %s; listed: %s" % (what, why, ", ".join(sorted(nodes)) or "none")


def _as_list(section):
    """global_status sections are lists with a 'node' field, or (early 4.4 builds) dicts keyed by node."""
    if isinstance(section, dict):
        out = []
        for node, entry in section.items():
            item = dict(entry or {})
            item.setdefault("node", node)
            out.append(item)
        return out
    return list(section or [])


def normalize_global_status(raw):
    raw = raw or {}
    return {
        "evacuations": _as_list(raw.get("evacuations")),
        "rebalances": _as_list(raw.get("rebalances")),
        "purges": _as_list(raw.get("purges")),
    }


class EmqxApi:
    def __init__(self, client):
        self.client = client

    @property
    def version(self):
        return self.client.version

    def nodes(self):
        nodes = [normalize_node(n) for n in (self.client.call("GET", "/nodes") or [])]
        for node in nodes:
            node["connections_from"] = "/nodes live_connections" if node["live_connections"] is not None else None
        if self.version == V4:
            self._v4_live_connections(nodes)
        return nodes

    def _v4_live_connections(self, nodes):
        """4.4's /nodes 'connections' is ets:info(emqx_channel, size): every channel, disconnected
        persistent sessions included (emqx_mgmt.erl node_info/1), and 'live_connections' only
        comes with 4.4.19. Every 4.4 keeps 'live_connections.count' in its per-node /stats
        (CHAN_STATS in emqx_cm.erl): connected clients come from there when /nodes lacks them, and
        each node says which figure it carries (connections_from)."""
        if all(node["live_connections"] is not None for node in nodes):
            return
        try:
            stats = {row.get("node"): row for row in self.stats()}
        except ApiError:
            stats = {}
        for node in nodes:
            if node["live_connections"] is not None:
                continue
            live = (stats.get(node["name"]) or {}).get("live_connections.count")
            if live is not None:
                node["connections"] = node["live_connections"] = int(number(live))
                node["connections_from"] = "/stats live_connections.count"
            else:
                # neither figure: the channel count, which also counts disconnected persistent sessions
                node["connections"] = node["live_connections"] = node["sessions"]
                node["connections_from"] = "/nodes connections (channels: disconnected persistent sessions included)"

    def stats(self):
        if self.version == V4:
            rows = self.client.call("GET", "/stats") or []
            return [dict(r.get("stats") or {}, node=r.get("node")) for r in rows]
        return self.client.call("GET", "/stats?aggregate=false") or []

    def global_status(self):
        return normalize_global_status(self.client.call("GET", "/load_rebalance/global_status"))

    def local_status(self):
        return self.client.call("GET", "/load_rebalance/status") or {}

    def evacuation_of(self, node, status=None):
        status = status or self.global_status()
        for entry in status["evacuations"]:
            if entry.get("node") == node:
                return entry
        return None

    def rebalance_of(self, coordinator, status=None):
        status = status or self.global_status()
        for entry in status["rebalances"]:
            if entry.get("node") == coordinator or entry.get("coordinator_node") == coordinator:
                return entry
        return None

    def start_evacuation(self, node, body):
        return self.client.call("POST", "/load_rebalance/%s/evacuation/start" % node, body)

    def stop_evacuation(self, node):
        return self.client.call("POST", "/load_rebalance/%s/evacuation/stop" % node, {})

    def start_rebalance(self, coordinator, body):
        return self.client.call("POST", "/load_rebalance/%s/start" % coordinator, body)

    def stop_rebalance(self, coordinator):
        return self.client.call("POST", "/load_rebalance/%s/stop" % coordinator, {})


class NodeFailover:
    """The management API of a cluster through ``api_url`` or, when that node does not answer, any of
    ``other_urls`` (same credentials): each read goes through the node that answered last. The
    client of ``api_url`` belongs to the caller; the others are made here and closed by ``close``."""

    def __init__(self, client, api_url, other_urls, client_factory):
        self.first = self.url = api_url
        self.urls = list(dict.fromkeys([api_url] + list(other_urls or [])))
        self.clients = {api_url: client}
        self.connected = set()
        self.client_factory = client_factory

    @property
    def version(self):
        return self.clients[self.url].version

    def read(self, what):
        """``what(EmqxApi)`` through the first node that answers; an answer below 500 (credentials, a
        request the cluster refuses) is final, since any other node would say the same."""
        failures = []
        for url in dict.fromkeys([self.url] + self.urls):
            try:
                client = self.clients.get(url)
                if client is None:
                    client = self.clients[url] = self.client_factory(url)
                if url not in self.connected:
                    client.connect()
                    self.connected.add(url)
                result = what(EmqxApi(client))
            except ApiError as exc:
                if exc.status is not None and exc.status < 500:
                    raise
                failures.append(exc.msg)
                self.connected.discard(url)  # log in again next time: the node may have restarted
                continue
            self.url = url
            return result
        raise ApiError("No EMQX node answers its management API (%s): %s" % (", ".join(self.urls), "; ".join(failures)))

    def close(self):
        for url, client in self.clients.items():
            if url != self.first:
                client.close()
