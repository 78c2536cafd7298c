"""emqx_cluster_info reads everything, changes nothing."""
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx import client as client_mod
from ansible_collections.zerodowntime.cluster.plugins.modules import emqx_cluster_info

from fake_emqx import FakeEmqx, node  # pylint: disable=import-error


def test_reports_nodes_operations_and_totals(fake, run_module):
    fake.nodes.append(node("emqx@old", status="stopped", version="5.8.6"))
    fake.status["evacuations"].append({"node": "emqx@n2", "state": "evicting_conns", "stats": {}})
    fake.status["rebalances"].append({"node": "emqx@n3", "state": "evicting_conns", "donors": ["emqx@n1"], "recipients": ["emqx@n3"], "ticks": 0})
    fake.freeze = True
    failed, result = run_module(emqx_cluster_info.main, fake, {})
    assert not failed and result["changed"] is False
    assert result["running_nodes"] == ["emqx@n1", "emqx@n2", "emqx@n3"]
    assert result["stopped_nodes"] == ["emqx@old"]
    assert result["total_connections"] == 40 and result["total_sessions"] == 40
    by_name = {n["name"]: n for n in result["nodes"]}
    assert by_name["emqx@n2"]["evacuation"] == "evicting_conns"
    assert by_name["emqx@n1"]["rebalance_donor_of"] == "emqx@n3"
    assert by_name["emqx@n1"]["connections"] == 30 and by_name["emqx@n1"]["sessions"] == 30
    assert fake.changing_requests() == []


def test_availability_asked_on_each_node(monkeypatch, run_module):
    nodes = {"http://n1.test:18083": FakeEmqx(), "http://n2.test:18083": FakeEmqx()}
    nodes["http://n2.test:18083"].script("GET", "/api/v5/load_rebalance/availability_check", 503,
                                         {"code": "NODE_EVACUATING", "message": "Node Evacuating"})
    import httpx

    def route(request):
        base = "%s://%s" % (request.url.scheme, request.url.netloc.decode())
        return nodes[base].handle(request)

    class Router:
        transport = httpx.MockTransport(route)

        @staticmethod
        def changing_requests():
            return []

    failed, result = run_module(emqx_cluster_info.main, Router, {
        "api_url": "http://n1.test:18083",
        "node_api_urls": {"emqx@n1": "http://n1.test:18083", "emqx@n2": "http://n2.test:18083"}})
    assert not failed, result
    assert result["availability"] == {"emqx@n1": "available", "emqx@n2": "unavailable"}
    assert client_mod.DEFAULT_TRANSPORT is not None


def test_v4_nodes_normalised(run_module):
    fake = FakeEmqx(api="v4")
    failed, result = run_module(emqx_cluster_info.main, fake, {"api_key": None, "api_secret": None, "app_id": "key", "app_secret": "secret"})
    assert not failed, result
    assert result["api_version"] == "v4"
    assert [n["status"] for n in result["nodes"]] == ["running"] * 3
    # 4.4 before 4.4.19: /nodes 'connections' counts channels (32, two of them disconnected persistent
    # sessions); the connected clients are the node's live_connections.count in /stats
    by_name = {n["name"]: n for n in result["nodes"]}
    assert by_name["emqx@n1"]["connections"] == 30 and by_name["emqx@n1"]["sessions"] == 32
    assert by_name["emqx@n1"]["connections_from"] == "/stats live_connections.count"


def test_v4_from_4_4_19_takes_live_connections_from_nodes(run_module):
    entries = [dict(node("emqx@n1", sessions=12, v4=True), live_connections=9, version="4.4.19"),
               dict(node("emqx@n2", sessions=5, v4=True), live_connections=5, version="4.4.19")]
    fake = FakeEmqx(api="v4", nodes=entries)
    failed, result = run_module(emqx_cluster_info.main, fake, {"api_key": None, "api_secret": None, "app_id": "key", "app_secret": "secret"})
    assert not failed, result
    by_name = {n["name"]: n for n in result["nodes"]}
    assert (by_name["emqx@n1"]["connections"], by_name["emqx@n1"]["sessions"]) == (9, 12)
    assert {n["connections_from"] for n in result["nodes"]} == {"/nodes live_connections"}
    assert not any("/stats" in path for _method, path, _body in fake.requests), fake.requests
