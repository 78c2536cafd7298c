"""The operator's blue-green update of an ``EMQX`` resource (reference 5.4/5.5, core nodes only),
played on the EMQX lab: blue nodes are one revision, green nodes the next.

A pod-template change (image, coreTemplate without replicas, clusterDomain) gets a new
``updateRevision`` (FNV-32a of the template); the other colour's nodes are started (the new
StatefulSet); once they all run and pass ``availability_check`` the resource is Available, and
after ``initialDelaySeconds`` the old nodes are evacuated one at a time, highest name first, with
``migrate_to`` = the new nodes, and stopped once their evacuation reaches ``prohibiting``; nodes
without sessions are stopped after ``waitTakeover`` seconds. When no old node runs,
``currentRevision`` becomes ``updateRevision`` and Ready returns.

Faults the operator is known for, reproduced on purpose:
- an image whose tag contains ``invalid`` never starts (ImagePullBackOff): the update stalls;
- a ``clusterDomain`` other than ``cluster.local`` makes the node lookup miss (pitfall 18): old
  nodes are stopped without evacuation, so their sessions are lost.
"""
import json
import time

TEMPLATE_FIELDS = ("image", "clusterDomain", "coreTemplate")
PROHIBITING = "prohibiting"


def fnv32a(text):
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def template_hash(spec):
    template = {k: spec.get(k) for k in TEMPLATE_FIELDS}
    core = json.loads(json.dumps(template.get("coreTemplate") or {}))
    (core.get("spec") or {}).pop("replicas", None)
    template["coreTemplate"] = core
    return "%x" % fnv32a(json.dumps(template, sort_keys=True))


def other(colour):
    return "green" if colour == "blue" else "blue"


def set_condition(conditions, kind, reason, message, stamp):
    """Put ``kind`` True at the front (newest first), keeping its transition time if it was True."""
    old = next((c for c in conditions if c["type"] == kind), None)
    rest = [c for c in conditions if c["type"] != kind]
    since = old["lastTransitionTime"] if old and old.get("status") == "True" else stamp
    return [{"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": since}] + rest


def drop_conditions(conditions, *kinds):
    return [c for c in conditions if c["type"] not in kinds]


class BlueGreen:
    """Per-resource revision bookkeeping; ``state`` is persisted by the caller."""

    def __init__(self, lab, emqx, state, clock=time.time):
        self.lab = lab  # has .nodes (lab description entries), .start(member), .stop(member)
        self.emqx = emqx
        self.state = state
        self.clock = clock

    def reconcile(self, obj, now_text):
        spec = obj["spec"]
        desired = template_hash(spec)
        st = self.state.setdefault("revisions", {"current": {"hash": desired, "colour": "blue"},
                                                 "update": {"hash": desired, "colour": "blue"}})
        if desired != st["update"]["hash"]:
            if desired == st["current"]["hash"]:
                st["update"] = dict(st["current"])  # rollback before the switch: revert updateRevision
            else:
                st["update"] = {"hash": desired, "colour": other(st["current"]["colour"]),
                                "image": spec.get("image"), "since": self.clock()}
        status = obj.get("status") or {}
        conditions = list(status.get("conditions") or [])
        all_nodes = {n["node"]: n for n in self.emqx.all_nodes()}
        running = {name for name, n in all_nodes.items() if str(n.get("node_status", "")).lower() == "running"}
        by_colour = {"blue": [], "green": []}
        for node in self.lab.nodes:
            by_colour[node["colour"]].append(node)
        replicas = len(by_colour["blue"])
        current = [n for n in by_colour[st["current"]["colour"]] if n["name"] in running]
        evacuations = self.emqx.evacuations()
        updating = st["current"]["hash"] != st["update"]["hash"]
        if not updating:
            conditions = drop_conditions(conditions, "CoreNodesProgressing")
            if current:
                for kind in ("Initialized", "CoreNodesReady", "Available", "Ready"):
                    conditions = set_condition(conditions, kind, kind, "core nodes are ready", now_text)
            update_nodes = current
        else:
            conditions = drop_conditions(conditions, "Ready")
            new_nodes = by_colour[st["update"]["colour"]]
            update_nodes = [n for n in new_nodes if n["name"] in running]
            if "invalid" not in str(st["update"].get("image") or ""):
                for node in new_nodes:
                    if node["name"] not in running and not self.state.get("started", {}).get(node["name"]):
                        self.lab.start(node["member"])
                        self.state.setdefault("started", {})[node["name"]] = True
            ready = [n for n in update_nodes if self.emqx.available(n["api_url"])]
            if len(ready) < len(new_nodes):
                conditions = drop_conditions(conditions, "Available", "CoreNodesReady")
                conditions = set_condition(conditions, "CoreNodesProgressing", "CreateNewStatefulSet",
                                           "%d/%d new core nodes ready" % (len(ready), len(new_nodes)), now_text)
            else:
                conditions = set_condition(conditions, "CoreNodesReady", "CoreNodesReady", "new core nodes are ready", now_text)
                conditions = set_condition(conditions, "Available", "Available", "new core nodes serve traffic", now_text)
                available_since = self.state.setdefault("available_since", self.clock())
                delay = (spec.get("updateStrategy") or {}).get("initialDelaySeconds", 10)
                if self.clock() - available_since >= delay:
                    self._drain(spec, current, [n["name"] for n in update_nodes], evacuations, all_nodes)
                if not [n for n in by_colour[st["current"]["colour"]] if n["name"] in self._running()]:
                    st["current"] = dict(st["update"])
                    self.state.pop("available_since", None)
                    self.state.pop("started", None)
                    conditions = drop_conditions(conditions, "CoreNodesProgressing")
                    conditions = set_condition(conditions, "Ready", "Ready", "update finished", now_text)
        # nodes may have been stopped or started during this pass: report what runs now
        fresh = {n["node"]: n for n in self.emqx.all_nodes()}
        running = {name for name, n in fresh.items() if str(n.get("node_status", "")).lower() == "running"}
        current_now = [n for n in by_colour[st["current"]["colour"]] if n["name"] in running]
        update_now = [n for n in by_colour[st["update"]["colour"]] if n["name"] in running]
        return {
            "coreNodes": [dict(fresh[n], role="core") for n in sorted(running)],
            "coreNodesStatus": {"replicas": replicas, "readyReplicas": len(running),
                                "currentRevision": st["current"]["hash"], "updateRevision": st["update"]["hash"],
                                "currentReplicas": len(current_now), "updateReplicas": len(update_now)},
            "nodeEvacuationsStatus": evacuations,
            "conditions": conditions,
        }

    def _running(self):
        return {n["node"] for n in self.emqx.all_nodes() if str(n.get("node_status", "")).lower() == "running"}

    def _drain(self, spec, current, migrate_to, evacuations, all_nodes):
        """One step of scaling the old set down, as one operator reconcile does."""
        strategy = (spec.get("updateStrategy") or {}).get("evacuationStrategy") or {}
        wait_takeover = strategy.get("waitTakeover", 10)
        if evacuations and evacuations[0].get("state") != PROHIBITING:
            return
        if evacuations and evacuations[0].get("state") == PROHIBITING:
            self._delete(evacuations[0]["node"])
            return
        if not current:
            return
        victim = sorted(current, key=lambda n: n["name"])[-1]
        if spec.get("clusterDomain", "cluster.local") != "cluster.local":
            # pitfall 18: the lookup by <pod>.<svc>.<ns>.svc.cluster.local misses, 404 reads as "stopped"
            self._delete(victim["name"])
            return
        sessions = (all_nodes.get(victim["name"]) or {}).get("connections") or 0
        if sessions > 0:
            body = {"conn_evict_rate": strategy.get("connEvictRate", 1000), "sess_evict_rate": strategy.get("sessEvictRate", 1000),
                    "migrate_to": migrate_to}
            if wait_takeover > 0:
                body["wait_takeover"] = wait_takeover
            if strategy.get("waitHealthCheck") is not None and strategy["waitHealthCheck"] != 60:
                body["wait_health_check"] = "%ds" % strategy["waitHealthCheck"]  # op-2.3dev and later only
            self.emqx.start_evacuation(victim["name"], body)
            return
        if self.clock() - self.state.get("last_delete", 0) >= wait_takeover:
            self._delete(victim["name"])

    def _delete(self, node_name):
        member = next(n["member"] for n in self.lab.nodes if n["name"] == node_name)
        self.lab.stop(member)
        self.state["last_delete"] = self.clock()
