"""Cluster views shared by API v5 and v4: node objects, stats, global status, node-name lists."""
import time


def erlang_atom(name):
    return "'%s'" % name


def erlang_list(names):
    return "[%s]" % ",".join(erlang_atom(n) for n in names)


def node_objects(node):
    """One object per member, as /api/v5/nodes. A stopped core node stays listed with three fields and
    `role: core`; a stopped replicant is not listed at all: EMQX lists `emqx:cluster_nodes(stopped)`,
    which holds core nodes only (apps/emqx_management/src/emqx_mgmt.erl, list_nodes/0 and
    stopped_node_info/1)."""
    members = node.members()
    counts = node.store.counts()
    cluster_sessions = sum(c["sessions"] for name, c in counts.items()
                           if name in members and members[name]["running"])
    out = []
    for name, member in sorted(members.items()):
        spec = _spec(node, name)
        if not member["running"]:
            if spec.get("role", "core") == "core":
                out.append({"node": name, "node_status": "stopped", "role": "core"})
            continue
        mine = counts.get(name, {})
        out.append({
            "node": name, "node_status": "running", "role": spec.get("role", "core"),
            "version": spec["version"], "edition": spec.get("edition", "Enterprise"),
            "otp_release": "26.2.5-3", "uptime": int((time.time() - member["boot"]) * 1000),
            "connections": mine.get("sessions", 0), "live_connections": member["live"],
            "cluster_sessions": cluster_sessions,
            "load1": 0.0, "load5": 0.0, "load15": 0.0, "max_fds": 1048576,
            "memory_total": 0, "memory_used": 0, "process_available": 2097152, "process_used": 0,
        })
    return out


def _spec(node, name):
    for spec in node.cfg["nodes"]:
        if spec["name"] == name:
            return spec
    raise KeyError(name)


def stats_objects(node):
    """Per running node: the counters of /api/v5/stats?aggregate=false."""
    members = node.members()
    counts = node.store.counts()
    out = []
    for name, member in sorted(members.items()):
        if not member["running"]:
            continue
        mine = counts.get(name, {})
        sessions = mine.get("sessions", 0)
        values = {"connections.count": sessions, "live_connections.count": member["live"],
                  "sessions.count": sessions, "channels.count": sessions,
                  "subscriptions.count": mine.get("subscriptions", 0),
                  "subscriptions.shared.count": 0, "retained.count": 0, "topics.count": 0}
        out.append(dict({"node": name}, **values))
    return out


def aggregate(objects):
    total = {}
    for obj in objects:
        for key, value in obj.items():
            if key != "node":
                total[key] = total.get(key, 0) + value
    return total


def global_status(node):
    members = node.members()
    evacuations = [m["evacuation"] for m in members.values() if m["running"] and m["evacuation"]]
    rebalances = [m["rebalance"] for m in members.values() if m["running"] and m["rebalance"]]
    return {"evacuations": evacuations, "purges": [], "rebalances": rebalances}


def check_nodes(node, names):
    """(error_code, message) for a nodes/migrate_to list, or None when every node is usable."""
    known = {spec["name"] for spec in node.cfg["nodes"]}
    invalid = [n for n in names if n not in known]
    if invalid:
        return "BAD_REQUEST", "Invalid nodes: %s" % erlang_list(invalid)
    members = node.members()

    def busy(name):
        return node.agent if name == node.name else members[name]["agent"]

    unavailable = [n for n in names if n not in members or not members[n]["running"] or busy(n)]
    if unavailable:
        return "NOT_FOUND", "Nodes unavailable: %s" % erlang_list(unavailable)
    return None
