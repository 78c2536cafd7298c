"""The operator's blue-green update of an ``EMQX`` resource (reference 5.4/5.5), played on the
EMQX lab: blue nodes are one revision, green nodes the other; each colour has core nodes and,
with ``--emqx-replicants``, replicant nodes.

A pod-template change (image, imagePullPolicy, clusterDomain, core/replicant templates without
replicas, ...) gets a new ``updateRevision`` (FNV-32a of the template) and the other colour's
nodes start as the new StatefulSet (core) and, once those are ready, the new ReplicaSet
(replicants): CoreNodesProgressing -> CoreNodesReady -> ReplicantNodesProgressing ->
ReplicantNodesReady -> Available. A node is ready when it runs and its availability_check
answers 200 (the operator's ``on-serving`` readiness gate). After ``initialDelaySeconds`` the old
replicants are drained first, one per reconcile, then the old core nodes, highest name first:
a node with sessions is evacuated with ``migrate_to`` = the new replicants (new core nodes when
there are no replicants), a node without sessions is stopped once ``waitTakeover`` has passed
since the last stop. The evacuation request is the one of the operator version played (reference
5.2): 2.2 never sends ``wait_health_check`` (EMQX's default 60 s applies, pitfall 19); 2.3 and
later send ``waitHealthCheck`` as ``"<N>s"`` when it is not 60. When no old node runs,
``currentRevision`` becomes ``updateRevision`` and Ready returns.

Revisions and data directories (controllers/apps/v2beta1/add_emqx_core.go, add_emqx_repl.go):
a NEW revision starts its colour's nodes with empty data directories (a new StatefulSet gets new
PVCs). A spec equal to the current template while the update is not yet Available only reverts
``updateRevision`` (``RevertStatefulSet``): the old nodes never stopped. Any other spec whose
StatefulSet still exists (an old set kept within ``revisionHistoryLimit``, as after an update that
finished, or the current set once the update is Available) makes the create fail with
AlreadyExists, and the operator bumps ``collisionCount`` and creates a set under a new hash, again
with empty data directories: the operator never scales an old set back up, so a rollback does not
bring back a node's old data or its evacuation. The lab has two colours of nodes: a new set that
would need a third (a rollback once the update is Available, while both colours still run) is
not modelled; the lab then logs that and leaves the new set without nodes.

Faults the operator is known for, reproduced on purpose:
- an image whose tag contains ``invalid`` never starts (ImagePullBackOff): the update stalls;
- a ``clusterDomain`` other than ``cluster.local`` makes the core node lookup miss (pitfall 18):
  old core nodes are stopped without evacuation, so their sessions are lost;
- pitfall 17: the first evacuation listed cluster-wide is taken for the operator's own; one that
  is not ``prohibiting`` blocks every scale-down, and a ``prohibiting`` one of a node that is not
  an old replicant makes the replicant drain fail (``ReconcilerFailed`` in the operator log and
  in the front condition's message) until that evacuation is stopped.
"""
import json
import math
import re
import time

from k8s_lab import builtin_kinds, crds

TEMPLATE_FIELDS = ("image", "imagePullPolicy", "imagePullSecrets", "serviceAccountName", "clusterDomain",
                   "coreTemplate", "replicantTemplate")
PROHIBITING = "prohibiting"
CORE, REPLICANT = "core", "replicant"


def fnv32a(text):
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


# k8s.io/apimachinery/pkg/util/rand SafeEncodeString: no vowels, no 0/1/3, so no words in names
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(text):
    return "".join(SAFE_ALPHANUMS[ord(char) % len(SAFE_ALPHANUMS)] for char in text)


def revision(value):
    """A StatefulSet/ReplicaSet name suffix as computeHash (controllers/apps/v2beta1/util.go) writes it:
    the FNV-32a sum in decimal, safe-encoded. (Upstream hashes the spew dump of the pod template; the
    lab hashes its JSON: the same shape, not the same value.)"""
    return safe_encode(str(value))


def template_hash(spec, collision_count=0):
    """computeHash(template, collisionCount): the collision count is hashed with the template, so
    after a collision every template gets a new hash."""
    template = {k: spec.get(k) for k in TEMPLATE_FIELDS}
    for key in ("coreTemplate", "replicantTemplate"):
        part = json.loads(json.dumps(template.get(key) or {}))
        (part.get("spec") or {}).pop("replicas", None)
        template[key] = part
    if collision_count:
        template["collisionCount"] = collision_count
    return revision(fnv32a(json.dumps(template, sort_keys=True)))


def replicant_revision(core_revision):
    # the lab switches both roles together, so the ReplicaSet's hash follows the StatefulSet's
    return revision(fnv32a(core_revision + "/replicant"))


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


# EMQXNode in apis/apps/v2beta1/status.go (operator 2.2): only these fields, zero counts left out
# (omitempty) - a node without connected clients has no live_connections - and uptime never serialised.
STATUS_NODE_FIELDS = ("node", "node_status", "otp_release", "version", "role", "edition", "connections", "live_connections")


def status_node(raw, role):
    """A coreNodes / replicantNodes entry as the operator serialises it from EMQX's /nodes entry."""
    entry = dict(raw, role=role)
    return {key: entry[key] for key in STATUS_NODE_FIELDS if entry.get(key) not in (None, "", 0)}


def evacuations_key(operator_version):
    """The JSON name of status.nodeEvacuationsStatus: operators 2.2.0 to 2.2.25 spell it
    nodEvacuationsStatus (apis/apps/v2beta1/status.go, corrected in 2.2.26)."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", str(operator_version or builtin_kinds.DEFAULT_OPERATOR_VERSION))
    if match and (2, 2, 0) <= tuple(int(part) for part in match.groups()) < (2, 2, 26):
        return "nodEvacuationsStatus"
    return "nodeEvacuationsStatus"


class BlueGreen:
    """Per-resource revision bookkeeping; ``state`` is persisted by the caller."""

    def __init__(self, lab, emqx, state, clock=time.time, log=None, operator_version=None):
        self.lab = lab  # has .nodes (lab description entries), .start(member, fresh), .stop(member)
        self.emqx = emqx
        self.state = state
        self.clock = clock
        self.log = log or (lambda message, **fields: None)
        self.sends_wait_health_check = crds.has_wait_health_check(operator_version or builtin_kinds.DEFAULT_OPERATOR_VERSION)
        self.evacuations_key = evacuations_key(operator_version)

    # nodes ---------------------------------------------------------------------------------
    def _group(self, colour, role):
        return [n for n in self.lab.nodes if n["colour"] == colour and n.get("role", CORE) == role]

    def _running(self):
        return {n["node"] for n in self.emqx.all_nodes() if str(n.get("node_status", "")).lower() == "running"}

    def _start(self, nodes, running):
        """Start the pods of a new set: a new StatefulSet has new PVCs, so empty data directories."""
        started = self.state.setdefault("started", {})
        for node in nodes:
            if node["name"] not in running and not started.get(node["name"]):
                self.lab.start(node["member"], fresh=True)
                started[node["name"]] = True

    def _revision(self, spec, conditions):
        st = self.state.get("revisions")
        if st is None:
            first = template_hash(spec)
            st = self.state["revisions"] = {"current": {"hash": first, "colour": "blue"},
                                            "update": {"hash": first, "colour": "blue"}}
        collision = self.state.get("collision_count", 0)
        desired = template_hash(spec, collision)
        if desired == st["update"]["hash"]:
            return st
        last_true = next((c["type"] for c in conditions if c.get("status") == "True"), None)
        if desired == st["current"]["hash"] and last_true not in ("Available", "Ready"):
            self._retire(st["update"]["hash"])  # its set stays, with whatever pods it started
            st["update"] = dict(st["current"])  # RevertStatefulSet: the old nodes still run
        else:
            # AlreadyExists: the StatefulSet of that hash is still there (the current one, or an old one within
            # revisionHistoryLimit); the operator counts a collision and hashes again.
            while desired in self._existing_sets(spec, st):
                collision += 1
                desired = template_hash(spec, collision)
                self.state["collision_count"] = collision
            colour = other(st["current"]["colour"])
            in_flight = st["update"]["hash"] != st["current"]["hash"] and st["update"]["colour"] == colour
            running = self._running() if in_flight else set()
            if any(n["name"] in running for n in self._group(colour, CORE) + self._group(colour, REPLICANT)):
                self.log("lab limitation", reason="a new StatefulSet %s while both colours run needs a third colour of nodes, "
                                                  "which the lab does not have" % desired)
                colour = None
            if st["update"]["hash"] != st["current"]["hash"]:
                self._retire(st["update"]["hash"])  # the set of the abandoned update stays, with its replicas
            st["update"] = {"hash": desired, "colour": colour, "image": spec.get("image"), "since": self.clock()}
        for key in ("started", "available_since", "failure"):
            self.state.pop(key, None)
        return st

    def _retire(self, old_hash):
        self.state["history"] = [h for h in self.state.get("history", []) if h != old_hash] + [old_hash]

    def _existing_sets(self, spec, st):
        """The hashes whose StatefulSet exists: current, update and the newest old ones that
        syncSets (sync_sets.go) has not deleted yet, revisionHistoryLimit of them (default 3)."""
        limit = spec.get("revisionHistoryLimit", 3)
        old = [h for h in self.state.get("history", []) if h not in (st["current"]["hash"], st["update"]["hash"])]
        return {st["current"]["hash"], st["update"]["hash"]} | set(old[-limit:] if limit else [])

    # reconcile -----------------------------------------------------------------------------
    def reconcile(self, obj, now_text):
        spec = obj["spec"]
        conditions = list((obj.get("status") or {}).get("conditions") or [])
        st = self._revision(spec, conditions)
        all_nodes = {n["node"]: n for n in self.emqx.all_nodes()}
        running = {name for name, n in all_nodes.items() if str(n.get("node_status", "")).lower() == "running"}
        has_replicants = any(n.get("role") == REPLICANT for n in self.lab.nodes)
        cur = st["current"]["colour"]
        evacuations = self.emqx.evacuations()
        self.state.pop("failure", None)
        if st["current"]["hash"] == st["update"]["hash"]:
            conditions = self._steady(conditions, cur, running, has_replicants, now_text)
        else:
            conditions = self._update(spec, st, conditions, running, all_nodes, evacuations, has_replicants, now_text)
        if self.state.get("failure") and conditions:
            conditions[0] = dict(conditions[0], message=self.state["failure"])
        return self._status(st, conditions, evacuations, has_replicants)

    def _steady(self, conditions, cur, running, has_replicants, now_text):
        """No update: the set's pods carry the on-serving readiness gate, evaluated again at every
        reconcile from each pod's own availability_check (update_pod_conditions.go, Enterprise 5.0.3
        and later), so a node that evacuates or gives clients away as a rebalance donor answers 503,
        its pod turns NotReady, and the status machine (status_machine.go, readyStatus) takes Ready
        away: core pods not ready start the conditions again from CoreNodesProgressing, replicant
        pods not ready go back to ReplicantNodesProgressing. (Upstream then climbs back one condition
        per reconcile, a second apart; the lab returns to Ready in one.)"""
        if not any(n["name"] in running for n in self._group(cur, CORE)):
            return drop_conditions(conditions, "CoreNodesProgressing", "ReplicantNodesProgressing")

        def serving(role):
            return all(self.emqx.available(n["api_url"]) for n in self.lab.nodes
                       if n.get("role", CORE) == role and n["name"] in running)

        if not serving(CORE):
            conditions = drop_conditions(conditions, "Ready", "Available", "ReplicantNodesReady", "ReplicantNodesProgressing",
                                         "CoreNodesReady", "CoreNodesProgressing")
            return set_condition(conditions, "CoreNodesProgressing", "CoreNodesProgressing", "Core nodes progressing", now_text)
        if has_replicants and not serving(REPLICANT):
            conditions = drop_conditions(conditions, "Ready", "Available", "ReplicantNodesReady")
            return set_condition(conditions, "ReplicantNodesProgressing", "ReplicantNodesProgressing",
                                 "Replicant nodes progressing", now_text)
        conditions = drop_conditions(conditions, "CoreNodesProgressing", "ReplicantNodesProgressing")
        kinds = ["Initialized", "CoreNodesReady"] + (["ReplicantNodesReady"] if has_replicants else [])
        for kind in kinds + ["Available", "Ready"]:
            conditions = set_condition(conditions, kind, kind, "nodes are ready", now_text)
        return conditions

    def _update(self, spec, st, conditions, running, all_nodes, evacuations, has_replicants, now_text):
        cur, upd = st["current"]["colour"], st["update"]["colour"]
        startable = "invalid" not in str(st["update"].get("image") or "")
        conditions = drop_conditions(conditions, "Ready")
        if upd is None:  # see the module docstring: not modelled
            conditions = drop_conditions(conditions, "Available", "CoreNodesReady")
            return set_condition(conditions, "CoreNodesProgressing", "CreateNewStatefulSet",
                                 "lab limitation: no nodes for a third StatefulSet", now_text)
        new_core = self._group(upd, CORE)
        if startable:
            self._start(new_core, running)
        ready_core = [n for n in new_core if n["name"] in running and self.emqx.available(n["api_url"])]
        if len(ready_core) < len(new_core):
            conditions = drop_conditions(conditions, "Available", "CoreNodesReady", "ReplicantNodesProgressing",
                                         "ReplicantNodesReady")
            return set_condition(conditions, "CoreNodesProgressing", "CreateNewStatefulSet",
                                 "%d/%d new core nodes ready" % (len(ready_core), len(new_core)), now_text)
        conditions = set_condition(conditions, "CoreNodesReady", "CoreNodesReady", "new core nodes are ready", now_text)
        targets = [n["name"] for n in ready_core]
        if has_replicants:
            new_replicants = self._group(upd, REPLICANT)
            if startable:
                self._start(new_replicants, running)
            ready = [n for n in new_replicants if n["name"] in running and self.emqx.available(n["api_url"])]
            if len(ready) < len(new_replicants):
                conditions = drop_conditions(conditions, "Available", "ReplicantNodesReady")
                return set_condition(conditions, "ReplicantNodesProgressing", "CreateReplicaSet",
                                     "%d/%d new replicant nodes ready" % (len(ready), len(new_replicants)), now_text)
            conditions = set_condition(conditions, "ReplicantNodesReady", "ReplicantNodesReady",
                                       "new replicant nodes are ready", now_text)
            targets = [n["name"] for n in ready]
        conditions = set_condition(conditions, "Available", "Available", "new nodes serve traffic", now_text)
        # The Available condition's lastTransitionTime is kept to the second, and the operator evacuates
        # once the whole seconds since then are more than initialDelaySeconds (checkInitialDelaySecondsReady
        # in controllers/apps/v2beta1/util.go, int32(delay) > InitialDelaySeconds).
        available_since = self.state.setdefault("available_since", float(math.floor(self.clock())))
        delay = (spec.get("updateStrategy") or {}).get("initialDelaySeconds", 10)
        if int(self.clock() - available_since) > delay:
            self._drain(spec, cur, targets, evacuations, all_nodes, running)
        still = self._running()
        if not any(n["name"] in still for n in self._group(cur, CORE) + self._group(cur, REPLICANT)):
            self._retire(st["current"]["hash"])
            st["current"] = dict(st["update"])
            for key in ("available_since", "started", "failure"):
                self.state.pop(key, None)
            conditions = drop_conditions(conditions, "CoreNodesProgressing", "ReplicantNodesProgressing")
            conditions = set_condition(conditions, "Ready", "Ready", "update finished", now_text)
        return conditions

    def _status(self, st, conditions, evacuations, has_replicants):
        # nodes may have been stopped or started during this pass: report what runs now
        fresh = {n["node"]: n for n in self.emqx.all_nodes()}
        running = {name for name, n in fresh.items() if str(n.get("node_status", "")).lower() == "running"}
        cur, upd = st["current"]["colour"], st["update"]["colour"]

        def counts(role, current_revision, update_revision):
            group = self._group(cur, role)
            out = {"replicas": len(group),
                   "readyReplicas": len([n for n in self.lab.nodes if n.get("role", CORE) == role and n["name"] in running]),
                   "currentRevision": current_revision, "updateRevision": update_revision,
                   "currentReplicas": len([n for n in group if n["name"] in running]),
                   "updateReplicas": len([n for n in self._group(upd, role) if n["name"] in running])}
            if "collision_count" in self.state:  # a *int32 with omitempty: there once the first collision set it
                out["collisionCount"] = self.state["collision_count"]
            return out

        roles = {n["name"]: n.get("role", CORE) for n in self.lab.nodes}
        status = {
            "coreNodes": [status_node(fresh[n], CORE) for n in sorted(running) if roles.get(n, CORE) == CORE],
            "coreNodesStatus": counts(CORE, st["current"]["hash"], st["update"]["hash"]),
            self.evacuations_key: evacuations,
            "conditions": conditions,
        }
        if has_replicants:
            status["replicantNodes"] = [status_node(fresh[n], REPLICANT) for n in sorted(running) if roles.get(n) == REPLICANT]
            status["replicantNodesStatus"] = counts(REPLICANT, replicant_revision(st["current"]["hash"]),
                                                    replicant_revision(st["update"]["hash"]))
        return status

    # scale-down of the old revision ---------------------------------------------------------
    def _drain(self, spec, old_colour, migrate_to, evacuations, all_nodes, running):
        """One step of scaling the old sets down, as one operator reconcile does: replicants first."""
        old_replicants = [n for n in self._group(old_colour, REPLICANT) if n["name"] in running]
        if old_replicants:
            return self._drain_replicants(spec, old_replicants, migrate_to, evacuations, all_nodes)
        old_core = [n for n in self._group(old_colour, CORE) if n["name"] in running]
        if not old_core:
            return None
        if evacuations and evacuations[0].get("state") != PROHIBITING:
            return None
        victim = sorted(old_core, key=lambda n: n["name"])[-1]
        if spec.get("clusterDomain", "cluster.local") != "cluster.local":
            # pitfall 18: the lookup by <pod>.<svc>.<ns>.svc.cluster.local misses, 404 reads as "stopped"
            return self._delete(victim["name"])
        return self._evacuate_or_delete(spec, victim, migrate_to, all_nodes)

    def _drain_replicants(self, spec, old_replicants, migrate_to, evacuations, all_nodes):
        if evacuations:
            first = evacuations[0]
            if first.get("state") != PROHIBITING:
                return None
            victim = next((n for n in old_replicants if n["name"] == first.get("node")), None)
            if victim is None:
                # op-2.2 looks the node up among the old ReplicaSet's pods and dereferences the miss
                self.state["failure"] = ("ReconcilerFailed: evacuation of %s is prohibiting but it is not a pod of the "
                                         "old ReplicaSet; stop that evacuation to let the update go on"
                                         % first.get("node"))
                self.log("ReconcilerFailed", reason=self.state["failure"], node=first.get("node"))
                return None
        else:
            victim = sorted(old_replicants, key=lambda n: n["name"])[-1]
        return self._evacuate_or_delete(spec, victim, migrate_to, all_nodes)

    def _evacuate_or_delete(self, spec, victim, migrate_to, all_nodes):
        strategy = (spec.get("updateStrategy") or {}).get("evacuationStrategy") or {}
        wait_takeover = strategy.get("waitTakeover", 10)
        info = all_nodes.get(victim["name"]) or {}
        if str(info.get("node_status", "stopped")).lower() == "stopped":
            return self._delete(victim["name"])
        if info.get("edition") == "Enterprise" and (info.get("connections") or 0) > 0:
            body = {"conn_evict_rate": strategy.get("connEvictRate", 1000),
                    "sess_evict_rate": strategy.get("sessEvictRate", 1000), "migrate_to": migrate_to}
            if wait_takeover > 0:
                body["wait_takeover"] = wait_takeover
            # 2.2 ignores the field even in a spec stored before an operator downgrade
            health_check = strategy.get("waitHealthCheck") if self.sends_wait_health_check else None
            if health_check is not None and health_check != 60:
                body["wait_health_check"] = "%ds" % health_check
            self.emqx.start_evacuation(victim["name"], body)
            self.log("NodeEvacuation", event="Node %s is being evacuated" % victim["name"])
            return None
        if self.clock() - self.state.get("last_delete", 0) >= wait_takeover:
            return self._delete(victim["name"])
        return None

    def _delete(self, node_name):
        member = next(n["member"] for n in self.lab.nodes if n["name"] == node_name)
        self.lab.stop(member)
        self.state["last_delete"] = self.clock()
