"""The migration service against a fake Xenon (httpx.MockTransport): what it sends and decides."""
import json

import httpx
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import TerminalFailure, ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import XenonConnection
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.migration import Migration

BLUE = "http://blue:8000/core/node-groups/default"
GREEN = "http://green:8000/core/node-groups/default"


class FakeXenon:
    """Two one-node groups; the migration task finishes (or fails) on its second GET."""

    def __init__(self, blue_count=10, tasks_started=True, idempotent=False, fail_with=None, auth=False):
        self.blue_count = blue_count
        self.tasks_started = tasks_started
        self.idempotent = idempotent
        self.fail_with = fail_with
        self.auth = auth
        self.tasks = {}
        self.gets = {}
        self.posted = []
        self.seen_tokens = set()

    def group(self, host):
        return {"membershipUpdateTimeMicros": 7, "nodes": {host: {
            "status": "AVAILABLE", "membershipQuorum": 1, "groupReference": "http://%s:8000/core/node-groups/default" % host}}}

    def __call__(self, request):
        host, path, method = request.url.host, request.url.path, request.method
        self.seen_tokens.add(request.headers.get("x-xenon-auth-token"))
        if path == "/core/authn/basic":
            return httpx.Response(200, headers={"x-xenon-auth-token": "tok123"})
        if self.auth and request.headers.get("x-xenon-auth-token") != "tok123":
            return httpx.Response(401, json={"message": "authentication required", "statusCode": 401})
        if path == "/core/node-groups/default":
            return httpx.Response(200, json=self.group(host))
        if path.endswith("/config"):
            return httpx.Response(200, json={"options": ["IDEMPOTENT_POST"] if self.idempotent else []})
        if path == "/core/query-tasks":
            return httpx.Response(200, json={"results": {"documentCount": self.blue_count}})
        if path == "/management/migration-tasks":
            if not self.tasks_started:
                return httpx.Response(404, json={"message": "Service not found", "statusCode": 404, "errorCode": -2147483648})
            if method == "GET":
                return httpx.Response(200, json={"documents": self.tasks})
            body = json.loads(request.content)
            self.posted.append(body)
            link = "/management/migration-tasks/" + body["documentSelfLink"]
            self.tasks[link] = dict(body, documentSelfLink=link, taskInfo={"stage": "CREATED"})
            return httpx.Response(200, json=self.tasks[link])
        if path.endswith("/stats"):
            done = self.tasks[path[:-6]]["taskInfo"]["stage"] == "FINISHED"
            return httpx.Response(200, json={"entries": {"processedServiceCount": {"latestValue": self.blue_count if done else 0}}})
        if path in self.tasks:
            self.gets[path] = self.gets.get(path, 0) + 1
            if self.gets[path] >= 2:
                if self.fail_with:
                    self.tasks[path]["taskInfo"] = {"stage": "FAILED", "failure": {"message": self.fail_with, "statusCode": 400}}
                else:
                    self.tasks[path]["taskInfo"] = {"stage": "FINISHED"}
                    self.tasks[path]["latestSourceUpdateTimeMicros"] = 999
            return httpx.Response(200, json=self.tasks[path])
        return httpx.Response(404, json={"message": "Service not found: %s" % path})


def run(fake, check_mode=False, **params):
    base = dict(source_node_group=BLUE, destination_node_group=GREEN, factories=["/core/examples"],
                wait=True, wait_timeout=30, poll_interval=0.01)
    base.update(params)
    connection = XenonConnection("http://green:8000", username=params.get("username"), password=params.get("password"),
                                 transport=httpx.MockTransport(fake))
    return Migration(connection, base, check_mode=check_mode, sleep=lambda s: None).run()


def test_first_run_creates_one_task_per_factory_with_delete_after_and_reports_counts():
    fake = FakeXenon()
    result = run(fake)
    assert result["changed"] and result["documents_moved"] == 10
    (body,) = fake.posted
    assert body["sourceNodeGroupReference"] == BLUE and body["destinationFactoryLink"] == "/core/examples"
    assert body["migrationOptions"] == ["DELETE_AFTER"]
    assert "querySpec" not in body  # a full pass: Xenon adds the factory clause itself
    assert result["factories"][0]["stage"] == "FINISHED" and result["factories"][0]["mode"] == "full"


def test_second_run_is_a_delta_from_the_high_water_mark():
    fake = FakeXenon()
    run(fake)
    fake.blue_count = 3
    result = run(fake)
    second = fake.posted[1]
    (clause,) = second["querySpec"]["query"]["booleanClauses"]
    assert clause["term"]["range"]["min"] == 999
    assert result["factories"][0]["mode"] == "delta" and result["documents_moved"] == 3


def test_nothing_left_means_no_task_and_no_change():
    fake = FakeXenon(blue_count=0)
    result = run(fake)
    assert not result["changed"] and fake.posted == []
    assert result["factories"][0]["mode"] == "skipped"


def test_check_mode_predicts_without_creating():
    fake = FakeXenon(blue_count=4)
    result = run(fake, check_mode=True)
    assert result["changed"] and result["documents_expected"] == 4 and fake.posted == []


def test_idempotent_destination_needs_no_delete_after_and_user_options_win():
    fake = FakeXenon(idempotent=True)
    run(fake)
    assert fake.posted[0]["migrationOptions"] == []
    fake2 = FakeXenon()
    run(fake2, migration_options=["USE_TRANSFORM_REQUEST"])
    assert fake2.posted[0]["migrationOptions"] == ["USE_TRANSFORM_REQUEST"]


def test_missing_migration_factory_says_how_to_start_it():
    with pytest.raises(ZdtError, match=r"startFactory\(new MigrationTaskService\(\)\)"):
        run(FakeXenon(tasks_started=False))


def test_failed_task_reports_factory_and_xenon_message():
    with pytest.raises(TerminalFailure) as info:
        run(FakeXenon(fail_with="Service already started: /core/examples/x stage: AVAILABLE"))
    assert "/core/examples" in info.value.msg and "Service already started" in info.value.msg


def test_login_token_is_sent_to_both_groups():
    fake = FakeXenon(auth=True)
    result = run(fake, username="admin@localhost", password="secret")
    assert result["documents_moved"] == 10
    assert "tok123" in fake.seen_tokens


def test_continuous_task_is_created_once_then_left_running():
    fake = FakeXenon()
    first = run(fake, continuous=True)
    assert first["changed"] and fake.posted[0]["continuousMigration"] is True
    assert first["factories"][0]["mode"] == "continuous"
    second = run(fake, continuous=True)
    assert not second["changed"] and len(fake.posted) == 1
    assert second["factories"][0]["task"] == first["factories"][0]["task"]


def test_wait_false_returns_after_creating():
    fake = FakeXenon()
    result = run(fake, wait=False)
    assert result["changed"] and result["factories"][0]["stage"] == "CREATED" and fake.gets == {}


class LiveBlue(FakeXenon):
    """Blue under live writes: pass k (in the order tasks are created) finds ``counts[k]`` new documents."""

    def __init__(self, counts):
        super().__init__(blue_count=counts[0])
        self.counts = counts

    def __call__(self, request):
        path = request.url.path
        passes = len(self.tasks)
        if path == "/core/query-tasks":  # planning the next pass
            self.blue_count = self.counts[min(passes, len(self.counts) - 1)]
        elif path.endswith("/stats"):  # what this pass moved
            self.blue_count = self.counts[list(self.tasks).index(path[:-6])]
        return super().__call__(request)


def test_repeat_runs_passes_back_to_back_until_one_is_small_enough():
    fake = LiveBlue([50, 30, 8])
    result = run(fake, repeat_until_at_most=10)
    assert [p["documents_moved"] for p in result["passes"]] == [50, 30, 8]
    assert len(fake.posted) == 3 and result["documents_moved"] == 88 and result["changed"]
    # every pass after the first starts from the high-water mark of the one before
    assert all(body["querySpec"]["query"]["booleanClauses"] for body in fake.posted[1:])


def test_writes_that_outpace_the_passes_fail_with_each_pass_named():
    fake = LiveBlue([40, 41, 39])
    with pytest.raises(TerminalFailure) as caught:
        run(fake, repeat_until_at_most=20, max_passes=3)
    message = caught.value.result()["msg"]
    assert "outpace" in message and "40, 41, 39" in message and "about 39 documents" in message
    assert len(fake.posted) == 3


def test_repeat_is_one_pass_when_the_first_is_small_and_in_check_mode_none():
    fake = LiveBlue([5, 100])
    assert [p["documents_moved"] for p in run(fake, repeat_until_at_most=10)["passes"]] == [5]
    fake = LiveBlue([50, 40])
    assert run(fake, check_mode=True, repeat_until_at_most=10)["passes"][0]["documents_expected"] == 50
    assert fake.posted == []


@pytest.mark.parametrize("bad", [{"repeat_until_at_most": -1}, {"repeat_until_at_most": 5, "max_passes": 0}])
def test_bad_repeat_options_are_refused_before_anything_is_created(bad):
    fake = LiveBlue([50])
    with pytest.raises(ZdtError) as caught:
        run(fake, **bad)
    assert "repeat_until_at_most" in caught.value.result()["msg"] and fake.posted == []
