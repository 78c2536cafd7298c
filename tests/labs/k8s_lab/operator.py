"""An EMQX Operator stand-in that reconciles ``EMQX`` and ``Rebalance`` objects against the
EMQX lab's real APIs, so the status the modules read comes from real evictions of real MQTT
clients.

    python -m k8s_lab.operator --kubeconfig K --emqx-description FILE [--interval 0.5] [--lifetime 3600]
                               [--operator-version 2.2.29]

FILE is the JSON that ``labctl up emqx`` printed (node API URLs and credentials).

What it does (reference section 5, op-2.2):
- ``EMQX``: status.coreNodes / replicantNodes copied from ``/api/v5/nodes`` (running nodes, with
  ``edition``), coreNodesStatus / replicantNodesStatus with revisions, nodeEvacuationsStatus from
  global_status, the conditions (newest first), and the blue-green update of k8s_lab.bluegreen,
  as the operator version it plays does it (waitHealthCheck is sent from 2.3 on only).
- ``Rebalance`` (5.6): finalizer; Failed when the target is missing, not Ready or not
  Enterprise; ``/load_rebalance/{coordinator}/start`` with every strategy field and the running
  replicant nodes, or core nodes without replicants (coordinator = first); non-200 -> Failed
  "Failed to start rebalance: request api failed:
  <status line>"; while Processing, every 5 s from the start, rebalanceStates = global_status.rebalances
  (seven fields of each), and an empty list -> Completed (also when EMQX aborted, as the real
  operator does); deleting while Processing
  stops the rebalance on the coordinator, then the finalizer goes.
"""
import argparse
import datetime
import http
import json
import os
import shutil
import sys
import time

import httpx
from kubernetes import config, dynamic
from kubernetes.client.exceptions import ApiException

FINALIZER = "apps.emqx.io/finalizer"
MERGE = "application/merge-patch+json"
# The Rebalance controller looks at a Processing rebalance again 5 s after its last look
# (RequeueAfter in controllers/apps/v2beta1/rebalance_controller.go), whatever --interval says.
REBALANCE_REQUEUE_S = 5.0
# status.rebalanceStates entries are EMQX's global_status entries read into RebalanceState
# (apis/apps/v2beta1/rebalance_types.go): these seven fields, each omitted when empty or zero.
REBALANCE_STATE_FIELDS = ("state", "session_eviction_rate", "recipients", "node", "donors", "coordinator_node",
                          "connection_eviction_rate")


def rebalance_state(entry):
    return {k: entry[k] for k in REBALANCE_STATE_FIELDS if entry.get(k) not in (None, "", 0, [])}


def set_condition(conditions, kind, message=""):
    """SetCondition in apis/apps/v2beta1/rebalance_types.go: a condition of the same type is replaced
    (keeping its lastTransitionTime when its status is unchanged), another is appended, and the
    list is sorted newest update first."""
    stamp = now()
    new = {"type": kind, "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": stamp}
    if message:
        new["message"] = message
    out = [dict(c) for c in conditions or []]
    for index, condition in enumerate(out):
        if condition.get("type") == kind:
            if condition.get("status") == new["status"]:
                new["lastTransitionTime"] = condition.get("lastTransitionTime") or stamp
            out[index] = new
            break
    else:
        out.append(new)
    out.sort(key=lambda c: c.get("lastUpdateTime") or "", reverse=True)
    return out


def ready(emqx):
    """Whether an EMQX resource has its Ready condition True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in ((emqx.get("status") or {}).get("conditions") or []))


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(message, **fields):
    sys.stdout.write(json.dumps(dict(fields, t=now(), msg=message)) + "\n")
    sys.stdout.flush()


class Emqx:
    """The EMQX lab's management API, reached through its nodes in lab order ("oldest pod" first)."""

    def __init__(self, description):
        with open(description) as handle:
            lab = json.load(handle)
        self.urls = [n["api_url"] for n in self._nodes_of(lab)]
        creds = lab["credentials"]
        self.http = httpx.Client(auth=(creds["api_key"], creds["api_secret"]), timeout=10.0)

    @staticmethod
    def _nodes_of(lab):
        nodes = lab.get("nodes")
        if isinstance(nodes, dict):
            nodes = list(nodes.values())
        return [n for n in nodes or [] if n.get("api_url")]

    def call(self, method, path, body=None):
        """(status, reason phrase, JSON) from the first node that answers; None if none does."""
        for url in self.urls:
            try:
                reply = self.http.request(method, url + "/api/v5" + path, json=body)
            except httpx.HTTPError:
                continue
            try:
                data = reply.json()
            except ValueError:
                data = None
            return reply.status_code, http.HTTPStatus(reply.status_code).phrase, data
        return None

    def all_nodes(self):
        reply = self.call("GET", "/nodes")
        return (reply[2] or []) if reply and reply[0] == 200 else []

    def evacuations(self):
        reply = self.call("GET", "/load_rebalance/global_status")
        return ((reply[2] or {}).get("evacuations") or []) if reply and reply[0] == 200 else []

    def available(self, api_url):
        try:
            return self.http.get(api_url + "/api/v5/load_rebalance/availability_check").status_code == 200
        except httpx.HTTPError:
            return False

    def start_evacuation(self, node, body):
        reply = self.call("POST", "/load_rebalance/%s/evacuation/start" % node, body)
        log("start evacuation", node=node, body=body, reply=reply)
        return reply


class LabNodes:
    """Start and stop EMQX lab nodes the way the operator creates and deletes pods."""

    def __init__(self, description, workdir):
        with open(description) as handle:
            self.nodes = Emqx._nodes_of(json.load(handle))
        self.workdir = workdir

    def start(self, member, fresh=False):
        """``fresh``: a pod of a new StatefulSet/ReplicaSet, whose volume starts empty."""
        import emqx_lab

        if fresh:
            node = next(n for n in self.nodes if n["member"] == member)
            shutil.rmtree(node["data_dir"], ignore_errors=True)
        log("start node (new pod)", member=member, fresh_data=fresh)
        emqx_lab.fault("start", member, self.workdir)

    def stop(self, member):
        import emqx_lab

        log("stop node (delete pod)", member=member)
        emqx_lab.fault("stop", member, self.workdir)


# The EMQX controller reconciles on a change of metadata.generation (its event filter ignores status
# updates) and otherwise when its last pass asked: 30 s later when the resource was Ready, 1 s when
# not (emqx_controller.go, Reconcile and SetupWithManager). The status - conditions, node counts,
# evacuations - is as old as the last pass.
READY_REQUEUE_S = 30.0
NOT_READY_REQUEUE_S = 1.0


class Operator:
    def __init__(self, kubeconfig, emqx, lab_nodes=None, state_path=None, version=None, ready_requeue=READY_REQUEUE_S):
        api = dynamic.DynamicClient(config.new_client_from_config(kubeconfig))
        self.emqxes = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="EMQX")
        self.rebalances = api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")
        self.emqx = emqx
        self.lab_nodes = lab_nodes
        self.state_path = state_path
        self.version = version
        self.ready_requeue = ready_requeue
        self.state = {}
        if state_path and os.path.exists(state_path):
            with open(state_path) as handle:
                self.state = json.load(handle)

    def _save(self):
        if self.state_path:
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(self.state, handle)
            os.replace(tmp, self.state_path)

    # EMQX -----------------------------------------------------------------------------------
    def reconcile_emqx(self, obj):
        from k8s_lab.bluegreen import BlueGreen

        key = "%s/%s" % (obj["metadata"]["namespace"], obj["metadata"]["name"])
        due_key, generation_key = "emqx-next-pass/" + key, "emqx-generation/" + key
        generation = obj["metadata"].get("generation")
        if generation == self.state.get(generation_key) and time.time() < self.state.get(due_key, 0):
            return
        self.state[generation_key] = generation
        old = obj.get("status") or {}
        status = BlueGreen(self.lab_nodes, self.emqx, self.state.setdefault(key, {}), log=log,
                           operator_version=self.version).reconcile(obj, now())
        self.state[due_key] = time.time() + (self.ready_requeue if ready({"status": status}) else NOT_READY_REQUEUE_S)
        self._save()
        if {k: old.get(k) for k in status} != status:
            self._status(self.emqxes, obj, status)

    # Rebalance ------------------------------------------------------------------------------
    def reconcile_rebalance(self, obj):
        meta = obj["metadata"]
        status = obj.get("status") or {}
        if meta.get("deletionTimestamp"):
            return self._delete_rebalance(obj)
        if FINALIZER not in (meta.get("finalizers") or []):
            self.rebalances.patch(name=meta["name"], namespace=meta["namespace"], content_type=MERGE,
                                  body={"metadata": {"finalizers": (meta.get("finalizers") or []) + [FINALIZER]}})
        phase = status.get("phase")
        if phase in (None, ""):
            self._start(obj)
        elif phase == "Processing":
            if not self._requeue_rebalance(meta["namespace"], meta["name"]):
                return
            # Reconcile checks the target's Ready before it looks at the phase (rebalance_controller.go): a
            # donor answers 503 to availability_check, its pod's readiness gate turns False and the EMQX
            # resource loses Ready at its next reconcile, so a rebalance that outlasts that is Failed for
            # good here while EMQX goes on rebalancing.
            target = self._target(obj)
            if target is not None and not ready(target):
                return self._fail(obj, "EMQX %s is not ready" % obj["spec"]["instanceName"])
            reply = self.emqx.call("GET", "/load_rebalance/global_status")
            if not reply or reply[0] != 200:
                # One failed look is final (rebalanceStatusHandler in rebalance_controller.go: SetFailed,
                # then SetCompleted and SetProcessing refuse a Failed job), while EMQX goes on rebalancing.
                # Upstream's requester is one pod (the oldest core with ContainersReady, newRequester);
                # the lab asks its nodes in that order and fails on the first answer that is not 200.
                why = "request api failed: %s %s" % reply[:2] if reply else \
                    'Get "%s/api/v5/load_rebalance/global_status": connection refused' % self.emqx.urls[0]
                return self._status(self.rebalances, obj, self._phase(obj, "Failed", "Failed to get rebalance status: " + why,
                                                                      rebalanceStates=None))
            states = [rebalance_state(e) for e in (reply[2] or {}).get("rebalances") or []]
            if states:
                # every look sets Processing again: its condition's lastUpdateTime moves, the rest stays
                self._status(self.rebalances, obj, self._phase(obj, "Processing", rebalanceStates=states))
            else:
                self._status(self.rebalances, obj, self._phase(obj, "Completed", rebalanceStates=None, completedTime=now()))

    def _delete_rebalance(self, obj):
        """The deletion branch of Reconcile (rebalance_controller.go), in upstream's order: a missing
        target lets the finalizer go; a target that is not Ready sets Failed and keeps it (the Ready
        check comes first); only then is a Processing rebalance stopped and the finalizer removed."""
        meta = obj["metadata"]
        status = obj.get("status") or {}
        name = obj["spec"]["instanceName"]
        target = self._target(obj)
        if target is not None:
            if not ready(target):
                # SetFailed stamps the condition anew at every reconcile, as upstream's SetCondition does
                self._fail(obj, "EMQX %s is not ready" % name)
                return None  # the finalizer stays; a Processing rebalance is now Failed and will not be stopped
            if status.get("phase") == "Processing":
                states = status.get("rebalanceStates") or []
                if not states:
                    # stopRebalance reads RebalanceStates[0].CoordinatorNode; before the first look fills
                    # them that is an index out of range, and controller-runtime 0.17 (go.mod) does not
                    # recover panics: the operator process dies, and dies again on every restart while
                    # this Rebalance waits for its finalizer.
                    log("panic: runtime error: index out of range [0] with length 0", rebalance=meta["name"],
                        where="controllers/apps/v2beta1/rebalance_controller.go stopRebalance")
                    sys.stdout.flush()
                    os._exit(2)  # pylint: disable=protected-access
                reply = self.emqx.call("POST", "/load_rebalance/%s/stop" % states[0].get("coordinator_node"))
                log("stopped rebalance on deletion", rebalance=meta["name"], reply=reply and reply[:2])
        if FINALIZER in (meta.get("finalizers") or []):
            rest = [f for f in meta["finalizers"] if f != FINALIZER]
            self.rebalances.patch(name=meta["name"], namespace=meta["namespace"], content_type=MERGE,
                                  body={"metadata": {"finalizers": rest or None}})
        return None

    def _start(self, obj):
        spec = obj["spec"]
        namespace = obj["metadata"]["namespace"]
        name = spec["instanceName"]
        if spec.get("instanceKind", "EMQX") != "EMQX":
            return self._fail(obj, "the lab operator simulates EMQX (v2beta1) targets only, not %s" % spec["instanceKind"])
        target = self._target(obj)
        if target is None:
            return self._fail(obj, "EMQX %s is not found" % name)
        target_status = target.get("status") or {}
        if not ready(target):
            return self._fail(obj, "EMQX %s is not ready" % name)
        core = target_status.get("coreNodes") or []
        if not core or core[0].get("edition") != "Enterprise":
            return self._fail(obj, "Only enterprise edition can be rebalanced")
        # clients live on replicants when there are any (reference 5.6)
        nodes = [n["node"] for n in target_status.get("replicantNodes") or core]
        strategy = spec["rebalanceStrategy"]
        body = {"nodes": nodes, "conn_evict_rate": strategy["connEvictRate"], "sess_evict_rate": strategy["sessEvictRate"],
                "wait_takeover": strategy["waitTakeover"], "wait_health_check": strategy["waitHealthCheck"],
                "abs_conn_threshold": strategy["absConnThreshold"], "rel_conn_threshold": float(strategy["relConnThreshold"]),
                "abs_sess_threshold": strategy["absSessThreshold"], "rel_sess_threshold": float(strategy["relSessThreshold"])}
        reply = self.emqx.call("POST", "/load_rebalance/%s/start" % nodes[0], body)
        log("start rebalance", rebalance=obj["metadata"]["name"], body=body, reply=reply)
        if not reply or reply[0] != 200:
            line = "%s %s" % (reply[0], reply[1]) if reply else "no EMQX node answered"
            return self._fail(obj, "Failed to start rebalance: request api failed: %s" % line)
        # The start only sets Processing: rebalanceStates is first filled by the look 5 s later
        # (rebalanceStatusHandler, phase "").
        self._requeue_rebalance(namespace, obj["metadata"]["name"], due=True)
        return self._status(self.rebalances, obj, self._phase(obj, "Processing", startedTime=now()))

    def _target(self, obj):
        """The EMQX resource a Rebalance names, None when there is none."""
        try:
            return self.emqxes.get(name=obj["spec"]["instanceName"], namespace=obj["metadata"]["namespace"]).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _requeue_rebalance(self, namespace, name, due=False):
        """Whether the controller looks at this Rebalance now (``due``: it does, the start being a
        look); if so, the next look is REBALANCE_REQUEUE_S later."""
        key = "rebalance-next-look/%s/%s" % (namespace, name)
        if not due and time.time() < self.state.get(key, 0):
            return False
        self.state[key] = time.time() + REBALANCE_REQUEUE_S
        self._save()
        return True

    def _fail(self, obj, message):
        log("rebalance failed", rebalance=obj["metadata"]["name"], reason=message)
        return self._status(self.rebalances, obj, self._phase(obj, "Failed", message))

    @staticmethod
    def _phase(obj, phase, message="", **extra):
        """The status after SetFailed/SetCompleted/SetProcessing: the phase, and the conditions as
        SetCondition leaves them (rebalance_types.go). They accumulate, one per type; upstream sets
        only a message, and only on Failed."""
        status = {"phase": phase, "conditions": set_condition((obj.get("status") or {}).get("conditions"), phase, message)}
        status.update(extra)
        return status

    @staticmethod
    def _status(resource, obj, status):
        resource.status.patch(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"],
                              body={"status": status}, content_type=MERGE)

    # loop -----------------------------------------------------------------------------------
    def once(self):
        for emqx in self.emqxes.get().to_dict()["items"]:
            self.reconcile_emqx(emqx)
        for rebalance in self.rebalances.get().to_dict()["items"]:
            try:
                self.reconcile_rebalance(rebalance)
            except ApiException as exc:
                if exc.status not in (404, 409):  # gone or changed meanwhile: the next pass sees the new state
                    raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--emqx-description", required=True)
    parser.add_argument("--emqx-workdir", required=True, help="the EMQX lab, whose nodes stand for the pods")
    parser.add_argument("--state", help="JSON file keeping revisions across operator restarts")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between reconcile passes (real: 1-5 s)")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop by itself after this many seconds")
    parser.add_argument("--operator-version", default=None, help="the operator version to behave as (default 2.2.29)")
    parser.add_argument("--ready-requeue", type=float, default=READY_REQUEUE_S,
                        help="seconds between passes over a Ready EMQX resource without a spec change (upstream: 30)")
    args = parser.parse_args(argv)
    operator = Operator(args.kubeconfig, Emqx(args.emqx_description), LabNodes(args.emqx_description, args.emqx_workdir),
                        args.state, version=args.operator_version, ready_requeue=args.ready_requeue)
    log("operator started", emqx_nodes=operator.emqx.urls, version=args.operator_version)
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        try:
            operator.once()
        except (ApiException, OSError) as exc:  # the API server restarting: retry on the next pass
            log("reconcile pass failed", error=str(exc)[:500])
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
