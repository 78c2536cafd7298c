"""Fast checks, no lab processes: the lab's MigrationTaskService against a fake node (pre-flight
checks, initial stage and operationTimeoutMicros as MigrationTaskService.java has them), and the
module's logic against a fake Xenon (httpx.MockTransport): a task whose owner left the green group,
a slow pass, operation_timeout, and the convergence check at each node's advertised groupReference."""
import asyncio
import json

import httpx
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import TerminalFailure, ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import groups
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import XenonConnection
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.migration import Migration
from xenon_lab import migration

pytestmark = pytest.mark.timeout(60)

# ---- the lab's task service ----------------------------------------------------------------------

LAB_BLUE = "http://b1/core/node-groups/default"
LAB_GREEN = "http://g1/core/node-groups/default"


class FakeNode:
    """One green node (g1) that answers the task's requests from ``answer(method, url, body)``."""

    id = "g1"
    available = {"g1"}
    peers = {}
    auth = None

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def internal_headers(self):
        return {}

    async def call(self, method, url, body=None, headers=None, timeout=30.0):
        self.calls.append((method, url))
        result = self.answer(method, url, body)
        if asyncio.iscoroutine(result):
            result = await asyncio.wait_for(result, timeout)
        return result


def lab_groups(b2_time, b2_reference="http://b2/core/node-groups/custom"):
    """Blue has b1 and b2; b2 advertises its group under another path than the reference's."""
    answers = {
        ("GET", LAB_BLUE): (200, {"membershipUpdateTimeMicros": 5, "nodes": {
            "b1": {"status": "AVAILABLE", "groupReference": LAB_BLUE},
            "b2": {"status": "AVAILABLE", "groupReference": b2_reference}}}),
        ("GET", b2_reference): (200, {"membershipUpdateTimeMicros": b2_time}),
        ("GET", LAB_GREEN): (200, {"membershipUpdateTimeMicros": 9, "nodes": {
            "g1": {"status": "AVAILABLE", "groupReference": LAB_GREEN}}}),
        ("GET", "http://b1/core/examples/config"): (200, {}),
        ("GET", "http://b2/core/examples/config"): (200, {}),
        ("POST", "http://b1/core/local-query-tasks"): (200, {"results": {}}),
        ("POST", "http://b2/core/local-query-tasks"): (200, {"results": {}}),
    }
    return lambda method, url, body: answers.get((method, url), (404, {"message": "Service not found"}))


def run_pass(answer, **fields):
    node = FakeNode(answer)
    state = migration.normalize(dict({"sourceNodeGroupReference": LAB_BLUE, "destinationNodeGroupReference": LAB_GREEN,
                                      "sourceFactoryLink": "/core/examples", "destinationFactoryLink": "/core/examples",
                                      "maintenanceIntervalMicros": 1000, "documentSelfLink": "/management/migration-tasks/t"},
                                     **fields))
    task = migration.Task(state, None)
    asyncio.run(migration.MigrationService(node, idempotent=False).run_pass(task))
    return task, node


def test_convergence_reads_the_group_reference_each_node_advertises():
    task, unused = run_pass(lab_groups(b2_time=5))
    assert task.state["taskInfo"]["stage"] == "FINISHED", task.state["taskInfo"]


def test_convergence_makes_one_check_plus_one_per_allowed_retry():
    task, node = run_pass(lab_groups(b2_time=6), maximumConvergenceChecks=10)
    assert task.state["taskInfo"]["stage"] == "FAILED"
    assert task.state["taskInfo"]["failure"]["message"] == "Nodegroups did not converge after 10 retries."
    assert node.calls.count(("GET", "http://b2/core/node-groups/custom")) == 11


@pytest.mark.parametrize("stage, runs", [("CREATED", True), ("FAILED", False), ("FINISHED", False), ("CANCELLED", False)])
def test_only_a_task_created_running_starts_a_pass(stage, runs):
    class Request:
        headers = {}
        cookies = {}

    async def create():
        service = migration.MigrationService(FakeNode(lab_groups(b2_time=5)), idempotent=False)
        service.create(Request(), "/management/migration-tasks/t", {
            "sourceNodeGroupReference": LAB_BLUE, "destinationNodeGroupReference": LAB_GREEN, "sourceFactoryLink": "/core/examples",
            "destinationFactoryLink": "/core/examples", "taskInfo": {"stage": stage}})
        task = service.tasks["/management/migration-tasks/t"]
        started = task.runner is not None
        if started:
            task.runner.cancel()
        return started, task.state["taskInfo"]["stage"]

    started, after = asyncio.run(create())
    assert started is runs and after == stage


def test_operation_timeout_micros_expires_a_slow_write_to_the_destination():
    async def slow(method, url, body):
        await asyncio.sleep(2)
        return 200, {}

    async def post():
        service = migration.MigrationService(FakeNode(slow), idempotent=False)
        task = migration.Task(migration.normalize({"sourceFactoryLink": "/core/examples", "destinationFactoryLink": "/core/examples",
                                                   "operationTimeoutMicros": 50000}), None)
        await service.migrate_page(task, [{"documentSelfLink": "/core/examples/a"}], ["http://g1"])

    with pytest.raises(migration.Failure, match="operationTimeoutMicros=50000"):
        asyncio.run(post())


# ---- the module against a fake Xenon ---------------------------------------------------------------

BLUE = "http://blue:8000/core/node-groups/default"
GREEN = "http://green:8000/core/node-groups/default"
TASKS = "/management/migration-tasks"


class FakeXenon:
    """One blue node, green nodes green and green2; the task is owned by green. Each GET of the task
    plays the next entry of ``script``, (stage, documentOwner, green AVAILABLE); the last one repeats."""

    def __init__(self, script=(("FINISHED", "green", True),)):
        self.script = list(script)
        self.polls = 0
        self.posted = []
        self.patched = []
        self.task = {}

    def __call__(self, request):
        host, path, method = request.url.host, request.url.path, request.method
        stage, owner, green_up = self.script[min(self.polls, len(self.script) - 1)]
        if path == "/core/node-groups/default":
            nodes = {host: {"status": "AVAILABLE", "membershipQuorum": 1, "groupReference": "http://%s:8000%s" % (host, path)}}
            if host != "blue":
                nodes = {"green": {"status": "AVAILABLE" if green_up else "UNAVAILABLE", "membershipQuorum": 1,
                                   "groupReference": GREEN},
                         "green2": {"status": "AVAILABLE", "membershipQuorum": 1, "groupReference": "http://green2:8000" + path}}
            return httpx.Response(200, json={"membershipUpdateTimeMicros": 7, "nodes": nodes})
        if path.endswith("/config"):
            return httpx.Response(200, json={"options": []})
        if path == "/core/query-tasks":
            return httpx.Response(200, json={"results": {"documentCount": 10}})
        if path == TASKS:
            if method == "GET":
                return httpx.Response(200, json={"documents": {}})
            body = json.loads(request.content)
            self.posted.append(body)
            self.task = dict(body, documentSelfLink="%s/%s" % (TASKS, body["documentSelfLink"]), taskInfo={"stage": "CREATED"},
                             documentOwner="green")
            return httpx.Response(200, json=self.task)
        if path.endswith("/stats"):
            return httpx.Response(200, json={"entries": {"processedServiceCount": {"latestValue": 4}}})
        if path == self.task.get("documentSelfLink"):
            if method == "PATCH":
                self.patched.append(json.loads(request.content))
            else:
                self.polls += 1
                self.task.update(taskInfo={"stage": stage}, documentOwner=owner, latestSourceUpdateTimeMicros=9)
            return httpx.Response(200, json=self.task)
        return httpx.Response(404, json={"message": "Service not found: %s" % path})


def run(fake, **params):
    base = dict(source_node_group=BLUE, destination_node_group=GREEN, factories=["/core/examples"],
                wait=True, wait_timeout=30, poll_interval=0.01)
    base.update(params)
    connection = XenonConnection("http://green:8000", transport=httpx.MockTransport(fake))
    return Migration(connection, base, sleep=lambda s: None).run()


def test_a_slow_pass_whose_owner_stays_is_waited_for_even_across_one_view_that_misses_it():
    fake = FakeXenon([("CREATED", "green", True)] * 5 + [("CREATED", "green", False)] + [("CREATED", "green", True)] * 5
                     + [("FINISHED", "green", True)])
    result = run(fake)
    assert result["factories"][0]["stage"] == "FINISHED" and fake.patched == []


@pytest.mark.parametrize("script", [
    [("CREATED", "green", True), ("CREATED", "green2", True)],  # a peer took the task over
    [("CREATED", "green", True), ("CREATED", "green", False)],  # the owner left the group, not yet replaced
])
def test_a_task_whose_owner_left_fails_at_once_as_orphaned_and_is_marked_failed_on_green(script):
    fake = FakeXenon(script)
    with pytest.raises(TerminalFailure) as caught:
        run(fake, wait_timeout=5)
    message = caught.value.result()["msg"]
    assert "ORPHANED" in message and "green that owned" in message and "Re-run" in message
    assert fake.polls <= 4, "the lost owner must be noticed within two polls, not at wait_timeout"
    assert [p["taskInfo"]["stage"] for p in fake.patched] == ["FAILED"]


def test_operation_timeout_is_sent_in_micros_and_must_be_positive():
    fake = FakeXenon()
    run(fake, operation_timeout=2.5)
    assert fake.posted[0]["operationTimeoutMicros"] == 2500000
    with pytest.raises(ZdtError, match="operation_timeout must be more than 0"):
        run(FakeXenon(), operation_timeout=0)


def test_convergence_asks_each_node_at_the_group_reference_it_advertises():
    reference = "http://h1:8000/core/node-groups/default"
    group = {"membershipUpdateTimeMicros": 5, "nodes": {
        "n1": {"status": "AVAILABLE", "membershipQuorum": 2, "groupReference": reference},
        "n2": {"status": "AVAILABLE", "membershipQuorum": 2, "groupReference": "http://h2:8000/core/node-groups/blue"}}}
    views = {"http://h1:8000/core/node-groups/default": group, "http://h2:8000/core/node-groups/blue": {"membershipUpdateTimeMicros": 5}}

    def answer(request):
        url = "http://%s:%d%s" % (request.url.host, request.url.port, request.url.path)
        return httpx.Response(200, json=views[url]) if url in views else httpx.Response(404, json={"message": "Service not found"})

    summary = groups.inspect(XenonConnection("http://h1:8000", transport=httpx.MockTransport(answer)), reference)
    assert summary["problems"] == [] and summary["converged"]
    views["http://h2:8000/core/node-groups/blue"] = {"membershipUpdateTimeMicros": 6}
    summary = groups.inspect(XenonConnection("http://h1:8000", transport=httpx.MockTransport(answer)), reference)
    assert not summary["converged"] and "http://h2:8000=6" in summary["problems"][0]
