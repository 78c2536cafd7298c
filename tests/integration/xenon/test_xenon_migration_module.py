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
def test_transformation_service_error_fails_with_its_message(lab_factory):
    lab = lab_factory("xenon", "--blue", 1, "--green", 2)
    seed(lab, 20)
    result = run_module("xenon_migration", migration_args(lab, transformation_service_link="/lab/transforms/broken"))
    assert result.get("failed"), result
    assert "/core/examples" in result["msg"] and "schema v2 validation failed" in result["msg"]
    assert result["last_observed"]["factories"][0]["stage"] == "FAILED"
    assert documents(lab, "green") == {}


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
