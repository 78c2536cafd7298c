"""What ``kubectl get`` prints comes from these tables; selectors decide what list/watch return."""
import datetime

import pytest

from k8s_lab import crds, selectors, store, tables

pytestmark = pytest.mark.timeout(10)

CONDITIONS = {"status": {"conditions": [
    {"type": "Ready", "status": "True"}, {"type": "Available", "status": "True"}, {"type": "Initialized", "status": "False"}]}}


@pytest.mark.parametrize("path,expected", [
    (".status.conditions[0].type", ["Ready"]),
    (".status.conditions[?(@.status==\"True\")].type", ["Ready", "Available"]),
    (".status.conditions[?(@.type!='Ready')].status", ["True", "False"]),
    (".status.conditions[*].type", ["Ready", "Available", "Initialized"]),
    ("{.status.missing.field}", []),
    (".status.conditions[7].type", []),
])
def test_jsonpath_subset(path, expected):
    assert tables.find(CONDITIONS, path) == expected


def test_unsupported_jsonpath_is_reported():
    with pytest.raises(ValueError):
        tables.parse_path(".a..b")


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 240, "3h4m"),
                                          (20 * 3600, "20h"), (5 * 86400, "5d")])
def test_human_age(seconds, text):
    reference = datetime.datetime(2026, 1, 2, 0, 0, 0, tzinfo=datetime.timezone.utc)
    stamp = (reference - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tables.human_age(stamp, reference) == text


def test_rebalance_table_shows_phase_like_the_operator_docs():
    definition = store.Definition.from_crd(crds.REBALANCE)
    obj = {"metadata": {"name": "rebalance-sample", "creationTimestamp": store.now()}, "status": {"phase": "Completed"}}
    table = tables.table(definition, "v2beta1", [obj, {"metadata": {"name": "fresh"}}])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert table["rows"][0]["cells"][:2] == ["rebalance-sample", "Completed"]
    assert table["rows"][1]["cells"][1] is None


def test_crd_without_columns_shows_age_only():
    definition = store.CRD_DEFINITION
    table = tables.table(definition, "v1", [{"metadata": {"name": "x", "creationTimestamp": store.now()}}])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]


@pytest.mark.parametrize("labels,fields,expected", [
    ("app=emqx", None, True), ("app!=emqx", None, False), ("app", None, True), ("!app", None, False),
    ("app==emqx,tier=core", None, False), (None, "metadata.name=e1", True), (None, "metadata.namespace=other", False),
])
def test_selectors(labels, fields, expected):
    obj = {"metadata": {"name": "e1", "namespace": "default", "labels": {"app": "emqx"}}}
    assert selectors.matcher(labels, fields)(obj) is expected


def test_no_selector_matches_everything():
    assert selectors.matcher("", None) is None
