"""The lab's Xenon query semantics, so that what the migration task selects is what Xenon would."""
from xenon_lab import migration, query, transform

DOCS = [
    {"documentSelfLink": "/core/examples/b", "name": "b", "documentUpdateTimeMicros": 20},
    {"documentSelfLink": "/core/examples/a", "name": "a", "documentUpdateTimeMicros": 10},
    {"documentSelfLink": "/core/other/c", "name": "c", "documentUpdateTimeMicros": 30},
    {"documentSelfLink": "/core/examples/d", "name": "d", "documentUpdateTimeMicros": 40, "documentUpdateAction": "DELETE"},
]


def links(spec):
    return [d["documentSelfLink"] for d in query.select(DOCS, spec)]


def test_prefix_and_exclusive_range_and_sorting():
    spec = {"query": {"booleanClauses": [
        {"occurance": "MUST_OCCUR", "term": {"propertyName": "documentSelfLink", "matchValue": "/core/examples/", "matchType": "PREFIX"}},
        {"occurance": "MUST_OCCUR", "term": {"propertyName": "documentUpdateTimeMicros",
                                             "range": {"type": "LONG", "min": 10, "isMinInclusive": False}}}]}}
    assert links(spec) == ["/core/examples/b"]
    spec["options"] = ["INCLUDE_DELETED"]
    assert links(spec) == ["/core/examples/b", "/core/examples/d"]


def test_must_not_and_should():
    spec = {"query": {"booleanClauses": [
        {"occurance": "SHOULD_OCCUR", "term": {"propertyName": "name", "matchValue": "a"}},
        {"occurance": "SHOULD_OCCUR", "term": {"propertyName": "name", "matchValue": "c"}}]}}
    assert links(spec) == ["/core/examples/a", "/core/other/c"]
    spec = {"query": {"booleanClauses": [{"occurance": "MUST_NOT_OCCUR", "term": {"propertyName": "name", "matchValue": "a"}}]}}
    assert links(spec) == ["/core/examples/b", "/core/other/c"]


def test_task_normalization_follows_the_code_not_the_wiki():
    state = migration.normalize({"sourceFactoryLink": "/core/examples", "continuousMigration": "false",
                                 "querySpec": {"query": {"term": {"propertyName": "name", "matchValue": "x"}}}})
    assert state["querySpec"]["resultLimit"] == 10000
    assert {"EXPAND_CONTENT", "BROADCAST", "OWNER_SELECTION"} <= set(state["querySpec"]["options"])
    # a bare term is replaced by the factory clause, as in Xenon
    assert state["querySpec"]["query"]["term"]["matchValue"] == "/core/examples/"
    assert state["continuousMigration"] is False and state["taskInfo"]["stage"] == "CREATED"
    assert "sourceNodeGroupReference" in migration.validate(state)


def test_transform_contracts():
    status, body = transform.handle("schema-v2", {'{"name": "a"}': "/core/examples"})
    assert status == 200 and list(body.values()) == ["/core/examples"]
    status, body = transform.handle("schema-v2", {"originalDocument": '{"name": "a"}', "destinationLink": "/x"})
    assert status == 200 and list(body["destinationLinks"].values()) == ["/x"]
    assert transform.handle("broken", {})[0] == 500
