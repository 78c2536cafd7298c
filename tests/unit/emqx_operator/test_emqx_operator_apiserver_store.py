"""The lab API server's object semantics, which the operator modules rely on: generation,
resourceVersion, the status subresource, finalizers, defaults, admission and watch history."""
import pytest

from k8s_lab import crds, errors, store, webhooks

pytestmark = pytest.mark.timeout(10)

NS = "default"
V = "v2beta1"


def make_store(path=None):
    s = store.Store(path, admission=list(webhooks.ALL))
    for crd in crds.ALL:
        s.create(store.CRD_DEFINITION, store.CRD_VERSION, None, crd)
    return s


def emqx_def(s):
    return s.definition(crds.GROUP, V, "emqxes")


def new_emqx(s, name="emqx-ee", image="emqx/emqx-enterprise:5.8.0"):
    return s.create(emqx_def(s), V, NS, {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX",
                                         "metadata": {"name": name}, "spec": {"image": image}})


def test_crds_are_served_under_plural_singular_and_all_versions():
    s = make_store()
    assert emqx_def(s) is s.definition(crds.GROUP, V, "emqx")
    rebalance = s.definition(crds.GROUP, "v1beta4", "rebalances")
    assert rebalance is s.definition(crds.GROUP, V, "rebalance")
    assert s.definition(crds.GROUP, "v1", "emqxes") is None


def test_create_applies_schema_defaults_and_drops_status():
    s = make_store()
    obj = s.create(emqx_def(s), V, NS, {"metadata": {"name": "e"}, "spec": {"image": "i"}, "status": {"x": 1}})
    assert obj["spec"]["updateStrategy"] == {"type": "Recreate", "initialDelaySeconds": 10,
                                             "evacuationStrategy": {"waitTakeover": 10, "connEvictRate": 1000,
                                                                    "sessEvictRate": 1000}}
    assert obj["spec"]["clusterDomain"] == "cluster.local"
    assert "status" not in obj
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["namespace"] == NS


def test_missing_required_field_is_rejected_with_its_path():
    s = make_store()
    rebalance = s.definition(crds.GROUP, V, "rebalances")
    with pytest.raises(errors.ApiStatus) as caught:
        s.create(rebalance, V, NS, {"metadata": {"name": "r"}, "spec": {"instanceName": "e", "rebalanceStrategy": {}}})
    assert caught.value.code == 422
    assert "spec.rebalanceStrategy.connEvictRate: Required value" in caught.value.message


def test_generation_moves_only_on_spec_changes_and_resource_version_on_every_write():
    s = make_store()
    d = emqx_def(s)
    first = new_emqx(s)
    labelled = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    changed = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": "emqx:5.8.1"}})
    assert changed["metadata"]["generation"] == 2
    status = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"status": {"ready": True}}, subresource="status")
    assert status["metadata"]["generation"] == 2 and status["status"] == {"ready": True}


def test_identical_write_is_a_no_op_without_a_new_resource_version():
    s = make_store()
    d = emqx_def(s)
    before = new_emqx(s)
    after = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": before["spec"]["image"]}})
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_status_subresource_separates_spec_and_status_writers():
    s = make_store()
    d = emqx_def(s)
    new_emqx(s)
    s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"status": {"phase": "A"}}, subresource="status")
    main = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": "n"}, "status": {"phase": "B"}})
    assert main["status"] == {"phase": "A"}
    sub = s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": "m"}, "status": {"phase": "C"}},
                  subresource="status")
    assert sub["spec"]["image"] == "n" and sub["status"] == {"phase": "C"}


def test_stale_resource_version_is_a_conflict():
    s = make_store()
    d = emqx_def(s)
    old = new_emqx(s)
    s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": "n"}})
    old["spec"]["image"] = "stale"
    with pytest.raises(errors.ApiStatus) as caught:
        s.replace(d, V, NS, "emqx-ee", old)
    assert caught.value.code == 409 and caught.value.reason == "Conflict"


def test_json_patch_and_its_failures():
    s = make_store()
    d = emqx_def(s)
    new_emqx(s)
    patched = s.patch(d, V, NS, "emqx-ee", "application/json-patch+json",
                      [{"op": "replace", "path": "/spec/updateStrategy/initialDelaySeconds", "value": 3}])
    assert patched["spec"]["updateStrategy"]["initialDelaySeconds"] == 3
    with pytest.raises(errors.ApiStatus) as caught:
        s.patch(d, V, NS, "emqx-ee", "application/json-patch+json", [{"op": "test", "path": "/spec/image", "value": "other"}])
    assert caught.value.code == 422


def test_strategic_merge_patch_is_refused_for_custom_resources():
    s = make_store()
    new_emqx(s)
    with pytest.raises(errors.ApiStatus) as caught:
        s.patch(emqx_def(s), V, NS, "emqx-ee", "application/strategic-merge-patch+json", {"spec": {"image": "n"}})
    assert caught.value.code == 415


def test_finalizers_hold_deletion_until_removed():
    s = make_store()
    d = emqx_def(s)
    new_emqx(s)
    s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"metadata": {"finalizers": ["apps.emqx.io/finalizer"]}})
    marked = s.delete(d, V, NS, "emqx-ee")
    assert marked["metadata"]["deletionTimestamp"]
    assert s.get(d, V, NS, "emqx-ee")["metadata"]["deletionTimestamp"]
    s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"metadata": {"finalizers": None}})
    with pytest.raises(errors.ApiStatus) as caught:
        s.get(d, V, NS, "emqx-ee")
    assert caught.value.code == 404


def test_rebalance_spec_is_immutable_but_status_and_metadata_are_not():
    s = make_store()
    d = s.definition(crds.GROUP, V, "rebalances")
    s.create(d, V, NS, {"metadata": {"name": "r"}, "spec": {"instanceName": "e", "rebalanceStrategy": {"connEvictRate": 5}}})
    s.patch(d, V, NS, "r", "application/merge-patch+json", {"status": {"phase": "Processing"}}, subresource="status")
    s.patch(d, V, NS, "r", "application/merge-patch+json", {"metadata": {"finalizers": ["apps.emqx.io/finalizer"]}})
    with pytest.raises(errors.ApiStatus) as caught:
        s.patch(d, V, NS, "r", "application/merge-patch+json", {"spec": {"rebalanceStrategy": {"connEvictRate": 6}}})
    assert caught.value.code == 403
    assert caught.value.message == 'admission webhook "validator.rebalance.emqx.io" denied the request: the Rebalance spec don\'t allow update'


def test_the_webhook_checks_relative_thresholds_as_go_floats_on_create_in_v2beta1_only():
    """validator.rebalance.emqx.io is registered for v2beta1: a relative threshold that
    strconv.ParseFloat refuses is denied there, while the same object through v1beta4 is not checked."""
    s = make_store()
    d = s.definition(crds.GROUP, V, "rebalances")
    body = {"metadata": {"name": "r"}, "spec": {"instanceName": "e", "rebalanceStrategy": {"connEvictRate": 5, "relConnThreshold": "1_5"}}}
    with pytest.raises(errors.ApiStatus) as caught:
        s.create(d, V, NS, body)
    assert caught.value.code == 403 and caught.value.message.endswith('the field ".spec.rebalanceStrategy.relConnThreshold" must be float64')
    for index, fine in enumerate(("1.5", "2", "1e1", ".5", "+1.5", "Inf")):
        s.create(d, V, NS, {"metadata": {"name": "ok-%d" % index},
                            "spec": {"instanceName": "e", "rebalanceStrategy": {"connEvictRate": 5, "relSessThreshold": fine}}})
    old = s.definition(crds.GROUP, "v1beta4", "rebalances")
    s.create(old, "v1beta4", NS, dict(body, spec=dict(body["spec"], instanceKind="EmqxEnterprise")))


def test_objects_are_served_in_every_version_of_their_crd():
    s = make_store()
    d = s.definition(crds.GROUP, V, "rebalances")
    s.create(d, V, NS, {"metadata": {"name": "r"}, "spec": {"instanceName": "e", "rebalanceStrategy": {"connEvictRate": 5}}})
    assert s.get(d, "v1beta4", NS, "r")["apiVersion"] == "apps.emqx.io/v1beta4"


def test_watch_history_resumes_after_a_revision_and_expires_after_restart(tmp_path):
    path = str(tmp_path / "objects.json")
    s = make_store(path)
    d = emqx_def(s)
    created = new_emqx(s)
    start = int(created["metadata"]["resourceVersion"])
    s.patch(d, V, NS, "emqx-ee", "application/merge-patch+json", {"spec": {"image": "n"}})
    new_emqx(s, name="other", image="x")
    events = s.events_since(d, V, None, start)
    assert [(t, o["metadata"]["name"]) for _rev, t, o in events] == [("MODIFIED", "emqx-ee"), ("ADDED", "other")]
    assert s.events_since(d, V, "elsewhere", start) == []

    restarted = store.Store(path, admission=list(webhooks.ALL))
    assert restarted.get(emqx_def(restarted), V, NS, "emqx-ee")["spec"]["image"] == "n"
    assert restarted.events_since(emqx_def(restarted), V, None, start) is None
    later = restarted.patch(emqx_def(restarted), V, NS, "other", "application/merge-patch+json", {"spec": {"image": "y"}})
    assert int(later["metadata"]["resourceVersion"]) > restarted.history_start
