"""An in-memory EMQX management API on httpx.MockTransport, answering with the shapes,
status codes and error bodies recorded in the reference (5.x and 4.4). Each GET of
global_status advances running evacuations and rebalances by one tick, so wait loops can be
exercised without a network or real time."""
import base64
import json
import re

import httpx


def node(name, status="running", version="5.8.6", sessions=0, live=0, v4=False):
    entry = {"node": name, "node_status": "Running" if (v4 and status == "running") else status,
             "version": version, "connections": sessions}
    if not v4:
        entry.update(role="core", edition="Enterprise", live_connections=live, uptime=1000)
    return entry


class FakeEmqx:
    EVAC_ORDER = ["waiting_health_check", "evicting_conns", "waiting_takeover", "evicting_sessions", "prohibiting"]

    def __init__(self, api="v5", nodes=None, login_version="5.8.6"):
        self.api = api
        v4 = api == "v4"
        self.nodes = nodes if nodes is not None else [
            node("emqx@n1", sessions=32 if v4 else 30, live=30, v4=v4), node("emqx@n2", sessions=10, live=10, v4=v4),
            node("emqx@n3", sessions=0, live=0, v4=v4)]
        # 4.4 before 4.4.19: /nodes has channels only; connected clients are in /stats
        self.v4_live = {"emqx@n1": 30, "emqx@n2": 10, "emqx@n3": 0} if nodes is None else {}
        self.status = {"evacuations": [], "rebalances": [], "purges": []}
        self.requests = []
        self.scripted = {}
        self.login_version = login_version
        self.key, self.secret = "key", "secret"
        self.token = "tok-%s" % id(self)
        self.leave_unbalanced = False
        self.vanish_rebalance_at = None  # tick at which a rebalance disappears, as when a participant crashes
        self.keyed_global_status = False
        self.freeze = False
        self.migrate_to = {}  # node -> the migrate_to its evacuation started with (None: all nodes)

    # ---- helpers for tests --------------------------------------------------------------------

    @property
    def transport(self):
        return httpx.MockTransport(self.handle)

    def script(self, method, path, status, body=None):
        """Answer the next ``method path`` with ``status``/``body`` instead of the default;
        ``status`` may be a callable run at request time that returns (status, body)."""
        self.scripted.setdefault((method, path), []).append((status, body))

    def changing_requests(self):
        return [r for r in self.requests if r[0] == "POST" and not r[1].endswith("/login")]

    def node_entry(self, name):
        for entry in self.nodes:
            if entry["node"] == name:
                return entry
        return None

    def running(self, name):
        entry = self.node_entry(name)
        return entry is not None and str(entry["node_status"]).lower() == "running"

    # ---- transport ----------------------------------------------------------------------------

    def handle(self, request):
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query.decode()
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        key = (request.method, path)
        if self.scripted.get(key):
            status, answer = self.scripted[key].pop(0)
            if callable(status):
                status, answer = status()
            return httpx.Response(status, json=answer)
        prefix = "/api/%s" % self.api
        if not path.startswith(prefix):
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": "Request Path Not Found"})
        path = path[len(prefix):]
        if path == "/login" and request.method == "POST":
            if body == {"username": "admin", "password": "pw"}:
                return httpx.Response(200, json={"token": self.token, "version": self.login_version,
                                                 "license": {"edition": "ee"}, "role": "administrator"})
            return httpx.Response(401, json={"code": "BAD_USERNAME_OR_PWD", "message": "Auth failed"})
        if not path.endswith("/availability_check") and not self.authorized(request):
            return httpx.Response(401, json={"code": "BAD_API_KEY_OR_SECRET", "message": "Check api_key/api_secret"})
        return self.route(request.method, path, body or {})

    def authorized(self, request):
        header = request.headers.get("authorization", "")
        if header == "Bearer %s" % self.token:
            return True
        expected = "Basic " + base64.b64encode(("%s:%s" % (self.key, self.secret)).encode()).decode()
        return header == expected

    def ok(self, data):
        if self.api == "v4":
            return httpx.Response(200, json={"code": 0, "data": data})
        return httpx.Response(200, json=data)

    def error(self, status, code, reason, node=None):
        if self.api == "v4":
            return httpx.Response(200, json={"code": 400, "message": reason})
        message = "error on node '%s': %s" % (node, reason) if node else reason
        return httpx.Response(status, json={"code": code, "message": message})

    def route(self, method, path, body):
        if method == "GET" and path.startswith("/nodes"):
            return self.ok(self.nodes)
        if method == "GET" and path.startswith("/stats") and self.api == "v4":
            return self.ok([{"node": n["node"], "stats": {"connections.count": n["connections"], "sessions.count": n["connections"],
                                                          "live_connections.count": self.v4_live.get(n["node"], n["connections"])}}
                            for n in self.nodes])
        if method == "GET" and path == "/load_rebalance/global_status":
            if not self.freeze:
                self.tick()
            self.show_recipients()
            if self.keyed_global_status:
                return httpx.Response(200, json={k: {e["node"]: e for e in v} for k, v in self.status.items() if k != "purges"})
            return httpx.Response(200, json=self.status)
        if method == "GET" and path == "/load_rebalance/availability_check":
            return httpx.Response(200, json={})
        match = re.match(r"^/load_rebalance/([^/]+)/(evacuation/)?(start|stop)$", path)
        if method == "POST" and match:
            target, evacuation, action = match.groups()
            if not self.running(target):
                return httpx.Response(404, json={"code": "NOT_FOUND", "message": "Node not found: %s" % target})
            if evacuation:
                return self.evacuation(target, action, body)
            return self.rebalance(target, action, body)
        return httpx.Response(404, json={"code": "NOT_FOUND", "message": "Request Path Not Found"})

    # ---- behaviour ----------------------------------------------------------------------------

    def evacuation(self, target, action, body):
        existing = [e for e in self.status["evacuations"] if e["node"] == target]
        if action == "start":
            if existing:
                return self.error(400, "BAD_REQUEST", "already_started", target)
            if any(target in r.get("donors", []) for r in self.status["rebalances"]):
                return self.error(400, "BAD_REQUEST", "eviction_agent_busy", target)
            entry = self.node_entry(target)
            self.migrate_to[target] = body.get("migrate_to")
            recipients = self.available(target, body.get("migrate_to"))
            self.status["evacuations"].append({
                "node": target, "state": "waiting_health_check",
                "connection_eviction_rate": body.get("conn_evict_rate", 500),
                "session_eviction_rate": body.get("sess_evict_rate", 500),
                "connection_goal": 0, "session_goal": 0, "session_recipients": recipients,
                "stats": {"initial_connected": entry.get("live_connections", entry["connections"]),
                          "current_connected": entry.get("live_connections", entry["connections"]),
                          "initial_sessions": entry["connections"], "current_sessions": entry["connections"]}})
            return self.ok([] if self.api == "v4" else {})
        if not existing:
            return self.error(400, "BAD_REQUEST", "not_started", target)
        self.status["evacuations"].remove(existing[0])
        self.migrate_to.pop(target, None)
        return self.ok([] if self.api == "v4" else {})

    def available(self, target, requested):
        """As EMQX's migrate_to/1 (emqx_node_rebalance_evacuation.erl): of the nodes asked for (all
        running others when none were), those that run and are not themselves being evacuated."""
        evacuating = {e["node"] for e in self.status["evacuations"]}
        names = requested or [n["node"] for n in self.nodes]
        return [n for n in names if n != target and self.running(n) and n not in evacuating]

    def show_recipients(self):
        """EMQX keeps the migrate_to an evacuation started with and works out on every status call
        which of them can take sessions now: that, not the request, is session_recipients."""
        for entry in self.status["evacuations"]:
            if entry["node"] in self.migrate_to:
                entry["session_recipients"] = self.available(entry["node"], self.migrate_to[entry["node"]])

    def rebalance(self, coordinator, action, body):
        existing = [r for r in self.status["rebalances"] if r["node"] == coordinator]
        if action == "stop":
            if not existing:
                return self.error(400, "BAD_REQUEST", "not_started", coordinator)
            self.status["rebalances"].remove(existing[0])
            return self.ok([] if self.api == "v4" else {})
        if existing:
            return self.error(400, "BAD_REQUEST", "already_started", coordinator)
        participants = body.get("nodes") or [n["node"] for n in self.nodes if self.running(n["node"])]
        counts = {n: self.node_entry(n).get("live_connections", 0) for n in participants}
        average = sum(counts.values()) / float(len(counts))
        donors = [n for n, c in counts.items() if c >= average]
        recipients = [n for n, c in counts.items() if c < average]
        abs_t = body.get("abs_conn_threshold", 1000)
        rel_t = body.get("rel_conn_threshold", 1.1)
        if recipients:
            avg_d = sum(counts[n] for n in donors) / float(len(donors))
            avg_r = sum(counts[n] for n in recipients) / float(len(recipients))
            balanced = avg_d <= avg_r + abs_t or avg_d <= avg_r * rel_t
        else:
            balanced = True
        if balanced:
            return self.error(400, "BAD_REQUEST", "nothing_to_balance", coordinator)
        self.status["rebalances"].append({
            "node": coordinator, "coordinator_node": coordinator, "state": "wait_health_check",
            "connection_eviction_rate": body.get("conn_evict_rate", 500),
            "session_eviction_rate": body.get("sess_evict_rate", 500),
            "donors": donors, "recipients": recipients, "ticks": 0})
        return self.ok([] if self.api == "v4" else {})

    def tick(self):
        for entry in self.status["evacuations"]:
            if not self.running(entry["node"]):
                continue
            stats = entry["stats"]
            state = entry["state"]
            if state == "evicting_conns":
                stats["current_connected"] = max(0, stats["current_connected"] - entry["connection_eviction_rate"])
                if stats["current_connected"] == 0:
                    entry["state"] = "waiting_takeover"
                continue
            if state == "evicting_sessions":
                stats["current_sessions"] = max(0, stats["current_sessions"] - entry["session_eviction_rate"])
                if stats["current_sessions"] == 0:
                    entry["state"] = "prohibiting"
                continue
            if state != "prohibiting":
                entry["state"] = self.EVAC_ORDER[self.EVAC_ORDER.index(state) + 1]
        for entry in list(self.status["rebalances"]):
            entry["ticks"] += 1
            if self.vanish_rebalance_at is not None and entry["ticks"] >= self.vanish_rebalance_at:
                self.status["rebalances"].remove(entry)
                continue
            order = ["wait_health_check", "evicting_conns", "wait_takeover", "evicting_sessions"]
            if entry["ticks"] < len(order):
                entry["state"] = order[entry["ticks"]]
                entry["donor_conn_avg"] = 30.0
                entry["connection_goal"] = 13.3
                continue
            self.status["rebalances"].remove(entry)
            if not self.leave_unbalanced:
                participants = entry["donors"] + entry["recipients"]
                total = sum(self.node_entry(n)["live_connections"] for n in participants)
                for index, name in enumerate(participants):
                    share = total // len(participants) + (1 if index < total % len(participants) else 0)
                    self.node_entry(name)["live_connections"] = share
                    self.node_entry(name)["connections"] = share


class FakeClock:
    """time.monotonic/time.sleep pair where sleeping just moves time forward."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


CONNECTION = {"api_url": "http://emqx.test:18083", "api_key": "key", "api_secret": "secret"}


def base_params(**overrides):
    params = dict(CONNECTION, api_version="auto", username=None, password=None, app_id=None, app_secret=None,
                  validate_certs=True, ca_path=None, client_cert=None, client_key=None, request_timeout=5.0,
                  wait=True, wait_timeout=60, poll_interval=1.0, restart_on_change=False)
    params.update(overrides)
    return params
