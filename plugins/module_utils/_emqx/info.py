# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""A read-only picture of an EMQX cluster: members, counts, availability, running operations."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import EmqxApi


class ClusterInfo:
    def __init__(self, client, params, client_factory=None):
        self.client = client
        self.api = EmqxApi(client)
        self.params = params
        self.client_factory = client_factory

    def run(self):
        self.client.connect()
        nodes = self.api.nodes()
        status = self.api.global_status()
        evacuating = {e.get("node"): e for e in status["evacuations"]}
        donors = {}
        for rebalance in status["rebalances"]:
            for donor in rebalance.get("donors") or []:
                donors[donor] = rebalance.get("node")
        availability = self._availability()
        for node in nodes:
            name = node["name"]
            node["evacuation"] = evacuating.get(name, {}).get("state")
            node["rebalance_donor_of"] = donors.get(name)
            if name in availability:
                node["available"] = availability[name]
        running = [n for n in nodes if n["status"] == "running"]
        return {
            "changed": False,
            "api_version": self.client.version,
            "nodes": nodes,
            "running_nodes": [n["name"] for n in running],
            "stopped_nodes": [n["name"] for n in nodes if n["status"] != "running"],
            "versions": sorted({n["version"] for n in running if n.get("version")}),
            "total_connections": sum(n["connections"] or 0 for n in running),
            "total_sessions": sum(n["sessions"] or 0 for n in running),
            "evacuations": status["evacuations"],
            "rebalances": status["rebalances"],
            "purges": status["purges"],
            "availability": availability,
        }

    def _availability(self):
        """availability_check is node-local: ask each node on its own listener (node_api_urls)."""
        out = {}
        for name, url in sorted((self.params.get("node_api_urls") or {}).items()):
            out[name] = self._check(url)
        return out

    def _check(self, url):
        client = self.client_factory(url)
        try:
            client.version = self.client.version
            if self.client.token:
                client.http.set_bearer(self.client.token)
            # 503 is the answer a health check acts on, not a transient error to retry.
            response = client.http.request("GET", client.prefix + "/load_rebalance/availability_check", ok=(200, 503))
            return "available" if response.status == 200 else "unavailable"
        except ApiError as exc:
            return "error: %s" % exc.msg
        finally:
            client.close()
