"""Pure logic: query specs the tasks get, high-water marks, expiration, parity checksums."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import groups, migration, parity, queries


def test_bare_term_is_wrapped_so_xenon_does_not_drop_it():
    spec = {"query": {"term": {"propertyName": "name", "matchValue": "a"}}, "resultLimit": 500}
    out = queries.task_query_spec(spec, since_micros=0)
    clauses = out["query"]["booleanClauses"]
    assert clauses == [{"term": {"propertyName": "name", "matchValue": "a"}, "occurance": "MUST_OCCUR"}]
    assert out["resultLimit"] == 500


def test_delta_clause_is_exclusive_range_on_update_time():
    out = queries.task_query_spec(None, since_micros=1234)
    (clause,) = out["query"]["booleanClauses"]
    assert clause["term"]["propertyName"] == "documentUpdateTimeMicros"
    assert clause["term"]["range"]["min"] == 1234 and clause["term"]["range"]["isMinInclusive"] is False
    assert queries.task_query_spec(None, since_micros=0) == {}


def test_term_and_clauses_together_are_rejected():
    with pytest.raises(ValueError, match="both a term and booleanClauses"):
        queries.user_clauses({"query": {"term": {}, "booleanClauses": [{"term": {}}]}})


def test_factories_accept_links_and_pairs():
    assert migration.normalize_factories(["/core/examples/", {"source": "/a", "destination": "/b"}]) == [
        {"source": "/core/examples", "destination": "/core/examples"}, {"source": "/a", "destination": "/b"}]
    with pytest.raises(ValidationError, match="twice"):
        migration.normalize_factories(["/a", "/a"])
    with pytest.raises(ValidationError, match="starting with /"):
        migration.normalize_factories(["core/examples"])


def test_high_water_mark_only_from_finished_tasks_of_the_same_stream():
    tasks = [
        {"documentSelfLink": "/management/migration-tasks/zdt-k1-1", "taskInfo": {"stage": "FINISHED"}, "latestSourceUpdateTimeMicros": 50},
        {"documentSelfLink": "/management/migration-tasks/zdt-k1-2", "taskInfo": {"stage": "FAILED"}, "latestSourceUpdateTimeMicros": 90},
        {"documentSelfLink": "/management/migration-tasks/zdt-k2-1", "taskInfo": {"stage": "FINISHED"}, "latestSourceUpdateTimeMicros": 70},
    ]
    assert migration.high_water_mark(tasks, "k1") == 50
    assert migration.high_water_mark(tasks, "k3") == 0


def test_expiration_grows_with_data_size():
    small = migration.expiration_micros(10, 600, now=0)
    large = migration.expiration_micros(10000000, 600, now=0)
    assert small == 86400 * 1000000
    assert large == 3 * 100000 * 1000000
    assert migration.expiration_micros(10, 600, override=60, now=0) == 60 * 1000000


def test_parity_detects_missing_extra_and_changed_content():
    blue = {"/core/examples/a": {"documentSelfLink": "/core/examples/a", "name": "a", "documentVersion": 3},
            "/core/examples/b": {"documentSelfLink": "/core/examples/b", "name": "b"}}
    expected = parity.expected_lines(blue, "/core/examples", "/core/examples")
    same = {"/a": parity.canonical({"name": "a", "documentVersion": 9}), "/b": parity.canonical({"name": "b"})}
    assert parity.compare(expected, same)["in_parity"]
    assert parity.compare(expected, same)["expected_checksum"] == parity.compare(expected, same)["destination_checksum"]
    broken = {"/a": parity.canonical({"name": "A"}), "/c": parity.canonical({"name": "c"})}
    result = parity.compare(expected, broken)
    assert not result["in_parity"]
    assert (result["missing"], result["extra"], result["different"]) == (["/b"], ["/c"], ["/a"])


def test_group_summary_counts_quorum_from_available_nodes():
    group = {"membershipUpdateTimeMicros": 5, "nodes": {
        "n1": {"status": "AVAILABLE", "membershipQuorum": 2, "groupReference": "http://h:1/core/node-groups/default"},
        "n2": {"status": "UNAVAILABLE", "membershipQuorum": 2, "groupReference": "http://h:2/core/node-groups/default"},
        "n3": {"status": "AVAILABLE", "options": ["OBSERVER"], "groupReference": "http://h:3/core/node-groups/default"}}}
    summary = groups.summarize("http://h:1/core/node-groups/default", group)
    assert summary["available"] == ["n1"] and summary["quorum"] == 2 and not summary["has_quorum"]
    assert summary["node_urls"] == ["http://h:1"]
