"""xenon_migration / xenon_migration_info against the Xenon lab: full pass, delta, no-op re-run,
check mode, transformation, auth, and a green host that never started the migration factory."""
import httpx
import pytest

from xenon_lab.transform import schema_v2
from xenontest import documents, headers, info_args, migration_args, run_module, seed

pytestmark = pytest.mark.timeout(120)
TRANSFORM = "/lab/transforms/schema-v2"


def user(doc):
    return {k: v for k, v in doc.items() if not k.startswith("document")}


@pytest.mark.slow
def test_full_then_delta_then_nothing(lab_factory):
    lab = lab_factory("xenon", "--blue", 2, "--green", 2)
    seed(lab, 150)
    args = migration_args(lab, transformation_service_link=TRANSFORM)

    predicted = run_module("xenon_migration", args, check=True)
    assert predicted["changed"] and predicted["documents_expected"] == 150
    assert documents(lab, "green") == {}, "check mode must not migrate anything"

    first = run_module("xenon_migration", args)
    assert first["changed"] and first["documents_moved"] == 150, first
    assert first["factories"][0]["mode"] == "full" and first["factories"][0]["stage"] == "FINISHED"
    assert first["factories"][0]["migration_options"] == ["DELETE_AFTER"]

    again = run_module("xenon_migration", args)
    assert not again["changed"] and again["documents_moved"] == 0 and again["factories"][0]["mode"] == "skipped"

    lb = lab.description["load_balancer"]["url"]
    blue = documents(lab, "blue")
    changed = sorted(blue)[:3]
    for link in changed:
        assert httpx.patch(lb + link, json={"counter": 1000}, timeout=10).status_code == 200
    delta = run_module("xenon_migration", args)
    assert delta["changed"] and delta["documents_moved"] == 3, delta
    assert delta["factories"][0]["mode"] == "delta"
    assert delta["factories"][0]["since_micros"] == first["factories"][0]["latest_source_update_time_micros"]

    green = documents(lab, "green")
    blue = documents(lab, "blue")
    assert sorted(green) == sorted(blue)
    for link in blue:
        assert user(green[link]) == schema_v2(user(blue[link]))

    info = run_module("xenon_migration_info", info_args(lab, transformation_service_link=TRANSFORM, parity=True))
    assert info["in_parity"], info["factories"]
    assert info["factories"][0]["parity"]["expected_checksum"] == info["factories"][0]["parity"]["destination_checksum"]
    assert [t["stage"] for t in info["tasks"]] == ["FINISHED", "FINISHED"]
    assert sum(t["processed"] for t in info["tasks"]) == 153


@pytest.mark.slow
def test_failed_tasks_report_their_cause_and_count_whole_pages_only(lab_factory):
    lab = lab_factory("xenon", "--blue", 1, "--green", 2)
    seed(lab, 20)
    result = run_module("xenon_migration", migration_args(lab, transformation_service_link="/lab/transforms/broken"))
    assert result.get("failed"), result
    assert "/core/examples" in result["msg"] and "schema v2 validation failed" in result["msg"]
    assert result["last_observed"]["factories"][0]["stage"] == "FAILED"
    assert documents(lab, "green") == {}

    # Xenon adds a page to processedServiceCount only when every document of it was written: one
    # 409 in the first page of 10 leaves the other 9 on green, counted nowhere.
    first = sorted(documents(lab, "blue"))[0]
    green = lab.description["green"]["nodes"][0]["url"]
    assert httpx.post(green + "/core/examples", json={"documentSelfLink": first, "name": "already"}, timeout=10).status_code == 200
    result = run_module("xenon_migration", migration_args(lab, migration_options=[], query_spec={"resultLimit": 10}))
    assert result.get("failed") and "Service already started" in result["msg"], result
    factory = result["last_observed"]["factories"][0]
    assert factory["stage"] == "FAILED" and factory["fetched"] == 10 and factory["processed"] == 0, factory
    assert result["last_observed"]["documents_moved"] == 0
    assert len(documents(lab, "green")) == 10


@pytest.mark.slow
def test_migration_factory_not_started_says_how_to_start_it(lab_factory):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1, "--migration-factory", "off")
    result = run_module("xenon_migration", migration_args(lab))
    assert result.get("failed")
    assert "startFactory(new MigrationTaskService())" in result["msg"]


@pytest.mark.slow
def test_auth_token_is_used_on_both_groups(lab_factory):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1, "--auth")
    seed(lab, 30)
    anonymous = migration_args(lab)
    anonymous.pop("username")
    anonymous.pop("password")
    denied = run_module("xenon_migration", anonymous)
    assert denied.get("failed") and "401" in denied["msg"]
    result = run_module("xenon_migration", migration_args(lab))
    assert result["documents_moved"] == 30, result
    assert "changeme" not in str(result)
    green = lab.description["green"]["nodes"][0]["url"]
    assert httpx.get(green + "/core/examples", headers=headers(green, lab)).json()["documentCount"] == 30


def green_deleted(lab, link):
    """True when green's index holds link as deleted (GET answers 404, the document is in the dump)."""
    green = lab.description["green"]["nodes"][0]["url"]
    if httpx.get(green + link, timeout=10).status_code != 404:
        return False
    dump = httpx.get(green + "/lab/internal/dump", timeout=10).json()["documents"]
    return any(d["documentSelfLink"] == link and d["documentUpdateAction"] == "DELETE" for d in dump)


def history(url, link):
    """(action, counter) of every version of link in a node's index, oldest first."""
    spec = {"query": {"term": {"propertyName": "documentSelfLink", "matchValue": link}},
            "options": ["INCLUDE_ALL_VERSIONS", "EXPAND_CONTENT"]}
    results = httpx.post(url + "/core/local-query-tasks", json={"taskInfo": {"isDirect": True}, "querySpec": spec},
                         timeout=10).json()["results"]
    return [(results["documents"][key]["documentUpdateAction"], results["documents"][key].get("counter"))
            for key in results["documentLinks"]]


@pytest.mark.slow
def test_include_deleted_and_all_versions_carry_deletions_and_history_to_green_with_parity(lab_factory):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1)
    lb = lab.description["load_balancer"]["url"]
    links = seed(lab, 20)
    assert httpx.delete(lb + links[0], timeout=10).status_code == 200
    args = migration_args(lab, query_spec={"options": ["INCLUDE_DELETED"]})

    # a full pass POSTs the deleted document, then DELETEs it on green
    first = run_module("xenon_migration", args)
    assert first["documents_moved"] == 20 and first["documents_expected"] == 20, first
    assert green_deleted(lab, links[0]) and first["factories"][0]["deletions_completed"] == 0

    # deletions since then: two documents green has live, and one created and deleted after the pass.
    # Xenon's POST of the first two fails (409), so it skips the page's DELETEs; the module completes them.
    late = seed(lab, 1, prefix="late")[0]
    for link in (links[1], links[2], late):
        assert httpx.delete(lb + link, timeout=10).status_code == 200
    delta = run_module("xenon_migration", args)
    assert delta["changed"] and delta["documents_expected"] == 3, delta
    assert delta["factories"][0]["deletions_completed"] == 3, delta["factories"][0]
    assert all(green_deleted(lab, link) for link in (links[1], links[2])) and late not in documents(lab, "green")
    assert sorted(documents(lab, "green")) == sorted(documents(lab, "blue"))

    # ALL_VERSIONS replays a document's history on green in order: POST, then each PATCH
    for counter in (100, 101):
        assert httpx.patch(lb + links[3], json={"counter": counter}, timeout=10).status_code == 200
    replayed = run_module("xenon_migration", dict(args, migration_options=["ALL_VERSIONS"]))
    assert replayed["documents_moved"] == 3 and replayed["factories"][0]["mode"] == "delta", replayed
    blue_url, green_url = (lab.description[c]["nodes"][0]["url"] for c in ("blue", "green"))
    assert history(green_url, links[3]) == history(blue_url, links[3]) == [("POST", 3), ("PATCH", 100), ("PATCH", 101)]

    info = run_module("xenon_migration_info", info_args(lab, query_spec={"options": ["INCLUDE_DELETED"]}, parity=True))
    assert info["in_parity"], info["factories"]
    assert info["factories"][0]["parity"]["source_deleted_count"] == 4 and info["factories"][0]["parity"]["deleted_live_count"] == 0
