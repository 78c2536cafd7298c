"""What makes the k8s lab answer like a cluster with the EMQX Operator installed: the operator's
printer columns, unknown-field pruning and strict field validation, the OpenAPI v3 document
kubectl reads, the operator's Deployment, and the simulator's reaction to a foreign evacuation
(pitfall 17)."""
import pytest

from k8s_lab import bluegreen, builtin_kinds, crds, errors, openapi, store, tables, webhooks

pytestmark = pytest.mark.timeout(10)

NS = "default"
V = "v2beta1"


def make_store():
    s = store.Store(None, admission=list(webhooks.ALL))
    for crd in crds.ALL:
        s.create(store.CRD_DEFINITION, store.CRD_VERSION, None, crd)
    return s


def test_emqx_status_column_is_the_first_true_condition_like_the_operator_crd():
    definition = store.Definition.from_crd(crds.EMQX)
    assert definition.short_names == ["emqx"]
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in definition.versions[V]["columns"]]
    # the 2.2 CRD's printer columns (apps.emqx.io_emqxes.yaml, v2beta1)
    assert columns == [("Status", "string", '.status.conditions[?(@.status=="True")].type'),
                       ("Age", "date", ".metadata.creationTimestamp")]
    updating = {"metadata": {"name": "emqx-ee", "creationTimestamp": store.now()},
                "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Available", "status": "True"},
                                          {"type": "CoreNodesReady", "status": "True"}]}}
    nothing_true = {"metadata": {"name": "new"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    rows = tables.table(definition, V, [updating, nothing_true])["rows"]
    assert rows[0]["cells"][:2] == ["emqx-ee", "Available"]  # one value, not every True type
    assert rows[1]["cells"][1] is None


@pytest.mark.parametrize("version", ["v2beta1", "v1beta4"])
def test_rebalance_columns_match_the_operator_crd_in_both_versions(version):
    definition = store.Definition.from_crd(crds.REBALANCE)
    assert [(c["name"], c["jsonPath"]) for c in definition.versions[version]["columns"]] == [
        ("Status", ".status.phase"), ("Age", ".metadata.creationTimestamp")]


def test_unknown_fields_are_pruned_with_a_warning_or_refused_when_strict():
    s = make_store()
    emqx = s.definition(crds.GROUP, V, "emqxes")
    body = {"metadata": {"name": "e"}, "spec": {"image": "i", "imagee": "typo", "coreTemplate": {"spec": {"anything": 1}},
                                                "updateStrategy": {"evacuationStrategy": {"waitTakover": 3}}}}
    with pytest.raises(errors.ApiStatus) as caught:
        s.create(emqx, V, NS, body, validation="Strict")
    assert caught.value.code == 400
    assert caught.value.message == ('EMQX in version "v2beta1" cannot be handled as a EMQX: strict decoding error: '
                                    'unknown field "spec.imagee", unknown field '
                                    '"spec.updateStrategy.evacuationStrategy.waitTakover"')
    s.warnings = []
    created = s.create(emqx, V, NS, body)  # Warn, the server's default
    assert "imagee" not in created["spec"] and created["spec"]["coreTemplate"]["spec"] == {"anything": 1}
    assert created["spec"]["updateStrategy"]["evacuationStrategy"]["waitTakeover"] == 10
    assert s.warnings == ['unknown field "spec.imagee"', 'unknown field "spec.updateStrategy.evacuationStrategy.waitTakover"']


def test_openapi_v3_lets_kubectl_validate_on_the_server_and_use_merge_patch():
    s = make_store()
    index = openapi.index(s.definitions.values())
    assert {"apis/apps.emqx.io/v2beta1", "apis/apps.emqx.io/v1beta4", "apis/apps/v1"} <= set(index["paths"])
    assert index["paths"]["apis/apps.emqx.io/v2beta1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps.emqx.io/v2beta1?hash=")
    doc = openapi.document(s.definitions.values(), crds.GROUP, V)
    patch = doc["paths"]["/apis/apps.emqx.io/v2beta1/namespaces/{namespace}/emqxes/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": crds.GROUP, "version": V, "kind": "EMQX"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"] if p["in"] == "query"]
    # no strategic merge patch for custom resources: kubectl apply falls back to a JSON merge patch
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    schema = doc["components"]["schemas"]["io.emqx.apps.v2beta1.EMQX"]
    assert schema["properties"]["spec"]["required"] == ["image"]
    assert openapi.document(s.definitions.values(), crds.GROUP, "v9") is None


def test_operator_deployment_is_read_only_and_found_by_its_labels():
    s = store.Store(None)
    deployments = store.DEPLOYMENT_DEFINITION
    s.seed(deployments, "v1", builtin_kinds.operator_deployment("2.2.28"))
    s.seed(deployments, "v1", builtin_kinds.operator_deployment("9.9.9"))  # a restart keeps what is there
    from k8s_lab import selectors

    found = s.list(deployments, "v1", None, selectors.matcher("control-plane=controller-manager"))["items"]
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in found] == [
        ("emqx-operator-system", "emqx-operator-controller-manager")]
    container = found[0]["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("manager", "emqx/emqx-operator-controller:2.2.28")
    assert found[0]["status"]["readyReplicas"] == 1
    assert deployments.read_only("v1")
    assert tables.table(deployments, "v1", found)["rows"][0]["cells"][:4] == [
        "emqx-operator-controller-manager", "1/1", 1, 1]
    doc = openapi.document(s.definitions.values(), "apps", "v1")
    assert set(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]) == {"get", "parameters"}


# pitfall 17 on the simulator, with the EMQX lab replaced by fakes --------------------------------
class FakeLab:
    def __init__(self):
        self.nodes = [{"name": "%s@h" % member, "member": member, "colour": colour, "role": role, "api_url": member}
                      for colour in ("blue", "green")
                      for member, role in (("%s-1" % colour, "core"), ("%s-r1" % colour, "replicant"))]
        self.running = {"blue-1@h", "blue-r1@h"}
        self.stopped = []
        self.started = []

    def start(self, member, fresh=False):
        self.running.add(member + "@h")
        self.started.append((member, "fresh" if fresh else "old data"))

    def stop(self, member):
        self.running.discard(member + "@h")
        self.stopped.append(member)


class FakeEmqx:
    def __init__(self, lab):
        self.lab = lab
        self.evacuating = []
        self.started = []
        self.sessions = {"blue-r1@h": 5}
        self.unavailable = set()  # api URLs answering 503 to availability_check

    def all_nodes(self):
        return [{"node": n["name"], "node_status": "running" if n["name"] in self.lab.running else "stopped",
                 "edition": "Enterprise", "connections": self.sessions.get(n["name"], 0)} for n in self.lab.nodes]

    def evacuations(self):
        return list(self.evacuating)

    def available(self, url):
        return url not in self.unavailable

    def start_evacuation(self, node, body):
        self.started.append((node, body["migrate_to"]))


def test_foreign_prohibiting_evacuation_fails_the_replicant_drain_until_stopped():
    lab = FakeLab()
    emqx = FakeEmqx(lab)
    logged = []
    now = [1000.0]
    sim = bluegreen.BlueGreen(lab, emqx, {}, clock=lambda: now[0], log=lambda msg, **f: logged.append(msg))
    obj = {"spec": {"image": "e:1", "updateStrategy": {"initialDelaySeconds": 0}}, "status": {}}
    obj["status"] = sim.reconcile(obj, "t0")
    assert obj["status"]["conditions"][0]["type"] == "Ready"
    obj["spec"]["image"] = "e:2"
    emqx.evacuating = [{"node": "green-r1@h", "state": "evicting_conns"}]  # someone evacuates a new node
    for dummy in range(3):
        obj["status"] = sim.reconcile(obj, "t1")
    assert emqx.started == [] and lab.stopped == []  # a non-prohibiting evacuation blocks the drain
    now[0] += 2  # past initialDelaySeconds (0): the operator wants more than 0 whole seconds since Available
    emqx.evacuating[0]["state"] = "prohibiting"
    obj["status"] = sim.reconcile(obj, "t2")
    assert obj["status"]["conditions"][0]["message"].startswith("ReconcilerFailed: evacuation of green-r1@h")
    assert "ReconcilerFailed" in logged and emqx.started == [] and lab.stopped == []
    emqx.evacuating = []  # POST .../green-r1@h/evacuation/stop
    obj["status"] = sim.reconcile(obj, "t3")
    assert emqx.started == [("blue-r1@h", ["green-r1@h"])]  # old replicants first, into the new replicants
    assert "ReconcilerFailed" not in obj["status"]["conditions"][0]["message"]
    assert obj["status"]["replicantNodesStatus"]["updateRevision"] != obj["status"]["replicantNodesStatus"]["currentRevision"]


def test_a_rollback_gets_a_new_set_with_empty_volumes_once_the_update_was_available():
    # add_emqx_core.go / add_emqx_repl.go: AlreadyExists with Available or Ready last -> collisionCount + 1 and
    # a new set under a new hash; only before Available does a spec equal to the current one revert updateRevision.
    lab = FakeLab()
    emqx = FakeEmqx(lab)
    emqx.sessions = {}
    logged = []
    now = [1000.0]
    sim = bluegreen.BlueGreen(lab, emqx, {}, clock=lambda: now[0], log=lambda msg, **f: logged.append(msg))
    strategy = {"initialDelaySeconds": 0, "evacuationStrategy": {"waitTakeover": 0}}
    obj = {"spec": {"image": "e:1", "updateStrategy": strategy}, "status": {}}

    def settle(image):
        obj["spec"]["image"] = image
        for dummy in range(10):
            obj["status"] = sim.reconcile(obj, "t")
            now[0] += 2
        return obj["status"]

    first = settle("e:1")["coreNodesStatus"]["currentRevision"]
    done = settle("e:2")
    assert done["conditions"][0]["type"] == "Ready" and lab.running == {"green-1@h", "green-r1@h"}
    assert "collisionCount" not in done["coreNodesStatus"]

    lab.started.clear()
    back = settle("e:1")  # the decision failed after Ready: roll back
    revisions = back["coreNodesStatus"]
    assert back["conditions"][0]["type"] == "Ready" and lab.running == {"blue-1@h", "blue-r1@h"}
    assert revisions["currentRevision"] == revisions["updateRevision"] != first
    assert revisions["collisionCount"] == 1 and back["replicantNodesStatus"]["collisionCount"] == 1
    assert sorted(lab.started) == [("blue-1", "fresh"), ("blue-r1", "fresh")]  # not the old set scaled back up

    obj["spec"]["image"] = "e:invalid"  # cannot start: the new set never gets ready
    for dummy in range(3):
        obj["status"] = sim.reconcile(obj, "t")
    assert obj["status"]["conditions"][0]["type"] == "CoreNodesProgressing"
    reverted = settle("e:1")  # before Available: updateRevision goes back, nothing new is created
    assert reverted["coreNodesStatus"]["updateRevision"] == revisions["currentRevision"]
    assert reverted["coreNodesStatus"]["collisionCount"] == 1 and reverted["conditions"][0]["type"] == "Ready"

    obj["spec"]["image"] = "e:3"
    now[0] -= 100  # hold the drain: initialDelaySeconds since Available has not passed
    obj["spec"]["updateStrategy"] = dict(strategy, initialDelaySeconds=600)
    for dummy in range(3):
        obj["status"] = sim.reconcile(obj, "t")
    assert obj["status"]["conditions"][0]["type"] == "Available"
    obj["spec"]["image"] = "e:1"  # back once Available, both colours running: a third set
    obj["status"] = sim.reconcile(obj, "t")
    assert obj["status"]["coreNodesStatus"]["collisionCount"] == 2 and "lab limitation" in logged
    assert obj["status"]["conditions"][0]["message"] == "lab limitation: no nodes for a third StatefulSet"


def test_pods_that_answer_503_take_ready_away_until_they_serve_again():
    # update_pod_conditions.go re-evaluates the on-serving gate at every reconcile; status_machine.go's
    # readyStatus then starts the replicant (or core) conditions again
    lab = FakeLab()
    emqx = FakeEmqx(lab)
    sim = bluegreen.BlueGreen(lab, emqx, {}, clock=lambda: 1000.0)
    obj = {"spec": {"image": "e:1"}, "status": {}}
    obj["status"] = sim.reconcile(obj, "t0")
    assert obj["status"]["conditions"][0]["type"] == "Ready"
    emqx.unavailable = {"blue-r1"}  # a rebalance donor
    obj["status"] = sim.reconcile(obj, "t1")
    types = [c["type"] for c in obj["status"]["conditions"]]
    assert types[0] == "ReplicantNodesProgressing" and "Ready" not in types and "Available" not in types
    emqx.unavailable = {"blue-1"}  # a core pod
    obj["status"] = sim.reconcile(obj, "t2")
    types = [c["type"] for c in obj["status"]["conditions"]]
    assert types[0] == "CoreNodesProgressing" and "CoreNodesReady" not in types and "Ready" not in types
    emqx.unavailable = set()
    obj["status"] = sim.reconcile(obj, "t3")
    assert obj["status"]["conditions"][0]["type"] == "Ready"


def test_rebalance_conditions_accumulate_one_per_type_newest_first(monkeypatch):
    """SetCondition (rebalance_types.go): a Rebalance keeps one condition per type, the newest update
    first; setting a type again with the same status moves only its lastUpdateTime."""
    from k8s_lab import operator

    clock = iter(["2026-01-01T00:00:0%dZ" % i for i in range(10)])
    monkeypatch.setattr(operator, "now", lambda: next(clock))
    started = operator.set_condition([], "Processing")
    looked = operator.set_condition(started, "Processing")
    assert looked == [{"type": "Processing", "status": "True", "lastUpdateTime": "2026-01-01T00:00:01Z",
                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    done = operator.set_condition(looked, "Completed")
    assert [c["type"] for c in done] == ["Completed", "Processing"] and "message" not in done[0]
    failed = operator.set_condition(looked, "Failed", "Failed to get rebalance status: request api failed: 503 Service Unavailable")
    assert [c["type"] for c in failed] == ["Failed", "Processing"] and failed[0]["message"].endswith("503 Service Unavailable")


def test_revision_hashes_are_safe_encoded_decimal_fnv_sums():
    """computeHash (controllers/apps/v2beta1/util.go): rand.SafeEncodeString of the FNV-32a sum in
    decimal, so names carry 1-10 characters of bcdfghjklmnpqrstvwxz2456789, like '79994df5f9'."""
    value = bluegreen.fnv32a("anything")
    assert bluegreen.revision(value) == "".join("bcdfghjklmnpqrstvwxz2456789"[ord(c) % 27] for c in str(value))
    assert bluegreen.safe_encode("0123456789") == "456789bcdf"
    revision = bluegreen.template_hash({"image": "emqx/emqx-enterprise:5.8.6"})
    assert 1 <= len(revision) <= 10 and set(revision) <= set(bluegreen.SAFE_ALPHANUMS)
    assert revision != bluegreen.template_hash({"image": "emqx/emqx-enterprise:5.10.4"})
