# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Desired state "every matching blue document of each factory is on green", reached with one
MigrationTaskService task per factory, created on green.

Delta passes: Xenon ignores ``latestSourceUpdateTimeMicros`` in a first-run POST, so a delta is a
``documentUpdateTimeMicros > high-water mark`` clause in the task's querySpec. The high-water mark
is the largest ``latestSourceUpdateTimeMicros`` of the FINISHED tasks this module created earlier
for the same (groups, factories, transformation, query); they are found on green by their
selfLink ``zdt-<key>-<micros>``. A COUNT query on blue first tells how much is left, so a run with
nothing to move creates no task and reports ``changed: false``.

Re-sending documents that already exist on green fails with 409 unless the destination factory is
IDEMPOTENT_POST; when the user does not choose migration_options, DELETE_AFTER is added for
non-idempotent destination factories so re-runs after a failed pass are safe.

Owner loss: a task is replicated to every green node but only its owner runs a pass. When the
owner leaves the group, a peer takes the replicated state over, keeps it CREATED/STARTED and never
resumes the pass, so the task would look busy until wait_timeout. The wait therefore remembers the
owner that started each task, and a task that is still running while that owner is gone from the
green group (or replaced by another documentOwner) is reported as ORPHANED, marked FAILED on green
so nothing counts it as running, and the run fails with the way out (re-run). A slow pass keeps
its owner and is waited for.
"""

from __future__ import annotations

import hashlib
import json
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    ApiError,
    TerminalFailure,
    ValidationError,
    WaitTimeout,
    ZdtError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Deadline
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import groups, parity, queries, reads
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import path_of

TASK_PREFIX = "zdt-"
MIN_EXPIRATION_SECONDS = 86400
ASSUMED_DOCS_PER_SECOND = 100.0
ORPHANED = "ORPHANED"
OWNER_GONE_POLLS = 2  # consecutive polls that must see the owner gone (one view may lag a node's return)
# A read of a task is forwarded to its owner, and a forward to an owner that was cut off the network
# hangs until the node's operation timeout (60 s by default) instead of failing; a node that is cut
# off itself does not answer at all. The wait's reads therefore give up sooner, without retries of
# their own: the next poll reads again, through another green node when the polled one is silent.
OBSERVE_TIMEOUT = 10.0
# In the failure this module records on a task it reports ORPHANED (check_owner), so that a later run
# knows the task by it.
ORPHAN_MARK = "that owned and ran this task left the node group"


def normalize_factories(factories):
    """[str | {source, destination}] -> [{source, destination}], validated."""
    if not factories:
        raise ValidationError("factories must list at least one factory link, e.g. /core/examples")
    out = []
    for item in factories:
        if isinstance(item, str):
            pair = {"source": item, "destination": item}
        elif isinstance(item, dict) and item.get("source"):
            pair = {"source": item["source"], "destination": item.get("destination") or item["source"]}
        else:
            raise ValidationError("factories entries must be a link or a dict with source (and destination), got %r" % (item,))
        for key, link in pair.items():
            if not link.startswith("/"):
                raise ValidationError("factory %s link %r must be a path starting with /" % (key, link))
            pair[key] = link.rstrip("/")
        out.append(pair)
    sources = [p["source"] for p in out]
    if len(set(sources)) != len(sources):
        raise ValidationError("factories lists a source factory twice: %s" % ", ".join(sorted(sources)))
    return out


def task_key(params, pair):
    """Stable id of one migration 'stream'; passes of the same stream share a high-water mark."""
    identity = {"source_node_group": params["source_node_group"], "destination_node_group": params["destination_node_group"],
                "factory": pair, "transformation_service_link": params.get("transformation_service_link"),
                "query_spec": params.get("query_spec") or {}}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def high_water_mark(tasks, key):
    prefix = "%s/%s%s-" % (reads.TASKS, TASK_PREFIX, key)
    marks = [int(t.get("latestSourceUpdateTimeMicros") or 0) for t in tasks
             if (t.get("documentSelfLink") or "").startswith(prefix)
             and (t.get("taskInfo") or {}).get("stage") == "FINISHED"]
    return max(marks or [0])


def running_continuous(tasks, key):
    prefix = "%s/%s%s-" % (reads.TASKS, TASK_PREFIX, key)
    for task in tasks:
        if (task.get("documentSelfLink") or "").startswith(prefix) and task.get("continuousMigration"):
            return task
    return None


def expiration_micros(expected, wait_timeout, override=None, now=None):
    """Absolute expiry of the task and of its query pages (Xenon's default is 10 minutes)."""
    now = time.time() if now is None else now
    if override:
        seconds = int(override)
    else:
        seconds = max(MIN_EXPIRATION_SECONDS, 3 * int(expected / ASSUMED_DOCS_PER_SECOND), 2 * int(wait_timeout or 0))
    return int((now + seconds) * 1000000)


def outpaced_message(passes, limit):
    moved = ", ".join(str(p["documents_moved"]) for p in passes)
    return ("live writes outpace the delta passes: %d back-to-back passes moved %s documents and none moved at most %d. "
            "Each pass copies what blue received during the pass before it, so blue takes writes faster than a pass "
            "copies them. The last pass took %.1f s; a maintenance window now would copy about %d documents. Raise the "
            "threshold to accept that window, lower the write load, or re-run later; nothing is lost either way (blue "
            "still serves and every pass so far is on green)." % (
                len(passes), moved, limit, passes[-1]["elapsed"], passes[-1]["documents_moved"]))


class Migration:
    def __init__(self, connection, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, wall=time.time):
        self.connection = connection
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.factories = normalize_factories(params.get("factories"))
        max_passes = params.get("max_passes")
        if params.get("operation_timeout") is not None and params["operation_timeout"] <= 0:
            raise ValidationError("operation_timeout must be more than 0 seconds (got %s)" % params["operation_timeout"])
        if (params.get("repeat_until_at_most") or 0) < 0 or (max_passes is not None and max_passes < 1):
            raise ValidationError("repeat_until_at_most must be 0 or more and max_passes 1 or more (got %s and %s)"
                                  % (params.get("repeat_until_at_most"), params.get("max_passes")))
        for name in ("source_node_group", "destination_node_group"):
            if not params.get(name):
                raise ValidationError("%s is required (a node-group URI such as http://node:8000/core/node-groups/default)" % name)
        self.green = connection.client()
        self.blue = connection.client(params["source_node_group"])
        self.orphans_checked = set()

    # ---- checks ------------------------------------------------------------------------------

    def preflight(self):
        url = self.connection.url
        try:
            started = reads.migration_factory_started(self.green)
        except ApiError as exc:
            if exc.status is not None:
                raise
            # no HTTP answer at all: most often a green node that left the group (stopped, or the
            # owner of a task that was just orphaned); the rest of the group may well be up
            raise ZdtError("the green node at %s does not answer (%s). If it is down, point url and destination_node_group "
                           "at a green node that is up: the migration goes on from the last finished pass" % (url, exc.msg), node=url)
        if not started:
            raise ZdtError(reads.NOT_STARTED_HINT % (url, url + reads.TASKS), node=url)
        report = {}
        for side in ("source", "destination"):
            reference = self.params["%s_node_group" % side]
            summary = groups.inspect(self.connection, reference)
            if summary["problems"]:
                raise ZdtError("%s node group is not ready: %s" % (side, "; ".join(summary["problems"])),
                               node_group=summary)
            report[side] = summary
        for pair in self.factories:
            pair["source_config"] = self._config(self.blue, pair["source"], "source (blue)", self.params["source_node_group"])
            dest = self._config(self.green, pair["destination"], "destination (green)", url)
            pair["idempotent"] = "IDEMPOTENT_POST" in (dest.get("options") or [])
        return report

    @staticmethod
    def _config(client, factory, side, where):
        try:
            return reads.factory_config(client, factory)
        except ApiError as exc:
            if exc.status == 404:
                raise ZdtError("%s factory %s does not exist on %s (GET %s/config returned 404)" % (side, factory, where, factory),
                               factory=factory)
            raise

    # ---- plan --------------------------------------------------------------------------------

    def options_for(self, pair):
        chosen = self.params.get("migration_options")
        if chosen is not None:
            return list(chosen)
        return [] if pair["idempotent"] else ["DELETE_AFTER"]

    def resumed_orphans(self, existing):
        """Refuse to start while a pass this module reported ORPHANED runs again.

        A node that was cut off the network (not stopped) keeps its pass: when it is reachable again it
        owns the task once more and the pass goes on, writing documents it read before the cut. A new
        pass running beside it could have newer documents overwritten by older ones, so the run stops
        until that pass has ended (its counters stand still) or its node was restarted. Each such task
        is looked at once per run: the look costs two poll intervals, and a run may plan many passes."""
        marked = [t for t in existing if (t.get("taskInfo") or {}).get("stage") == "FAILED"
                  and ORPHAN_MARK in (reads.failure_message(t) or "") and t["documentSelfLink"] not in self.orphans_checked]
        if not marked:
            return
        self.orphans_checked.update(t["documentSelfLink"] for t in marked)
        before = {t["documentSelfLink"]: reads.task_stats(self.green, t["documentSelfLink"]) for t in marked}
        self.sleep(max(2 * float(self.params.get("poll_interval") or 2.0), 1.0))
        moving = []
        for task in marked:
            link = task["documentSelfLink"]
            after = reads.task_stats(self.green, link)
            if any(after.get(name, 0) > before[link].get(name, 0) for name in ("fetchedDocumentCount", "processedServiceCount")):
                owner = (self.green.get(link).data or {}).get("documentOwner") or "its owner"
                moving.append("%s on green node %s (fetched %d -> %d documents)" % (
                    link, owner, before[link].get("fetchedDocumentCount", 0), after.get("fetchedDocumentCount", 0)))
        if moving:
            raise ZdtError(
                "a migration pass reported ORPHANED earlier is running again: %s. Its node came back after being cut off or "
                "frozen and resumed the pass where it was; nothing in Xenon stops it, and it writes the documents it read "
                "before, possibly over newer ones. Nothing was started. Wait until its counters stand still, or restart "
                "that node (a task's state is not persisted, so the pass ends there), then re-run." % "; ".join(moving))

    def plan(self):
        existing = reads.list_tasks(self.green)
        self.resumed_orphans(existing)
        items = []
        for pair in self.factories:
            key = task_key(self.params, pair)
            item = {"source": pair["source"], "destination": pair["destination"], "key": key,
                    "migration_options": self.options_for(pair), "task": None, "stage": None,
                    "fetched": 0, "processed": 0, "latest_source_update_time_micros": 0,
                    "elapsed": 0.0, "failure": None, "deletions_completed": 0}
            if self.params.get("continuous"):
                current = running_continuous(existing, key)
                if current is not None:
                    item.update(mode="continuous", task=current["documentSelfLink"], expected=None, since_micros=0,
                                create=False, stage=(current.get("taskInfo") or {}).get("stage"))
                    items.append(item)
                    continue
            since = high_water_mark(existing, key)
            expected = reads.count(self.blue, queries.selection(pair["source"], self.params.get("query_spec"), since),
                                   queries.include_deleted(self.params.get("query_spec")))
            mode = "continuous" if self.params.get("continuous") else ("delta" if since else "full")
            create = bool(self.params.get("continuous")) or expected > 0
            item.update(mode=mode if create else "skipped", since_micros=since, expected=expected, create=create)
            items.append(item)
        return items

    def task_body(self, item):
        params = self.params
        body = {
            "documentSelfLink": "%s%s-%d" % (TASK_PREFIX, item["key"], int(self.wall() * 1000000)),
            "sourceNodeGroupReference": params["source_node_group"],
            "destinationNodeGroupReference": params["destination_node_group"],
            "sourceFactoryLink": item["source"],
            "destinationFactoryLink": item["destination"],
            "querySpec": queries.task_query_spec(params.get("query_spec"), item["since_micros"]),
            "migrationOptions": item["migration_options"],
            "continuousMigration": bool(params.get("continuous")),
            "documentExpirationTimeMicros": expiration_micros(item["expected"] or 0, params.get("wait_timeout"),
                                                              params.get("task_expiration"), self.wall()),
        }
        if not body["querySpec"]:
            del body["querySpec"]
        if params.get("transformation_service_link"):
            body["transformationServiceLink"] = params["transformation_service_link"]
        if params.get("operation_timeout"):
            body["operationTimeoutMicros"] = int(params["operation_timeout"] * 1000000)
        return body

    # ---- run ---------------------------------------------------------------------------------

    def run(self):
        deadline = Deadline(self.params.get("wait_timeout") or 600, clock=self.clock)
        groups_report = self.preflight()
        limit = self.params.get("repeat_until_at_most")
        repeat = (limit is not None and not self.check_mode and self.params.get("wait", True)
                  and not self.params.get("continuous"))
        passes = []
        while True:
            result = self.one_pass(groups_report, deadline)
            passes.append({"documents_moved": result["documents_moved"], "documents_expected": result["documents_expected"],
                           "elapsed": max([i["elapsed"] for i in result["factories"]] or [0.0])})
            if not repeat or result["documents_moved"] <= limit:
                break
            if len(passes) >= (self.params.get("max_passes") or 10):
                raise TerminalFailure(outpaced_message(passes, limit), last=dict(result, passes=passes),
                                      elapsed=round(deadline.elapsed(), 3), samples=result["timeline"])
        if limit is not None:
            result.update(passes=passes, documents_moved=sum(p["documents_moved"] for p in passes),
                          changed=result["changed"] or len(passes) > 1)
        return self._finish(result, deadline)

    def one_pass(self, groups_report, deadline):
        """Plan, create and (unless told not to) wait for one task per factory that has something to move."""
        items = self.plan()
        result = {"changed": False, "factories": items, "node_groups": groups_report, "timeline": [],
                  "documents_moved": 0, "documents_expected": sum(i["expected"] or 0 for i in items)}
        to_create = [i for i in items if i["create"]]
        if self.check_mode or not to_create:
            result["changed"] = bool(to_create)
            return result
        for item in to_create:
            body = self.task_body(item)
            created = self.green.post(reads.TASKS, json=body).data or {}
            item["task"] = created.get("documentSelfLink") or "%s/%s" % (reads.TASKS, body["documentSelfLink"])
            item["stage"] = (created.get("taskInfo") or {}).get("stage")
            item["owner"] = created.get("documentOwner")
            item["started"] = self.clock()
        result["changed"] = True
        if self.params.get("wait", True):
            self.wait(to_create, result, deadline, groups_report)
            if queries.include_deleted(self.params.get("query_spec")) and not self.params.get("continuous"):
                for item in to_create:
                    self.complete_deletions(item)
        result["documents_moved"] = sum(i["processed"] for i in items)
        if self.params.get("wait", True) and not self.params.get("continuous"):
            result["changed"] = result["documents_moved"] > 0 or any(i["deletions_completed"] for i in items)
        return result

    def complete_deletions(self, item):
        """Delete on green what this pass found deleted on blue but Xenon left live.

        Xenon POSTs a deleted document and DELETEs it once the whole page is written, but when the
        POST of a deleted document fails (409: green already has it, live or deleted), it ignores
        the failure and skips every DELETE of that page. So a document deleted on blue after an
        earlier pass copied it stays live on green, and so may others of its page."""
        params = self.params
        source_query = queries.deleted_only(queries.selection(item["source"], params.get("query_spec"), item["since_micros"]))
        deleted = reads.read_all(self.blue, source_query, include_deleted=True)
        links = parity.expected_lines(deleted, item["source"], item["destination"], self.green,
                                      params.get("transformation_service_link"),
                                      "USE_TRANSFORM_REQUEST" in item["migration_options"])
        completed = []
        for suffix in sorted(links):
            link = item["destination"].rstrip("/") + suffix
            try:
                self.green.get(link)
            except ApiError as exc:
                if exc.status == 404:
                    continue  # deleted on green too, or never there
                raise
            self.green.request("DELETE", link)
            completed.append(link)
        item["deletions_completed"] = len(completed)
        return completed

    def _finish(self, result, deadline):
        for item in result["factories"]:
            for name in ("started", "create", "owner_gone", "current_owner"):
                item.pop(name, None)
        result["elapsed"] = round(deadline.elapsed(), 3)
        return result

    def poll_read(self):
        """Request options of the wait's reads (see OBSERVE_TIMEOUT)."""
        return {"timeout": min(OBSERVE_TIMEOUT, float(self.params.get("request_timeout") or OBSERVE_TIMEOUT)), "retries": 0}

    def observe(self, item):
        task = self.green.get(item["task"], **self.poll_read()).data or {}
        stats = reads.task_stats(self.green, item["task"], **self.poll_read())
        summary = reads.task_summary(task, stats)
        item.setdefault("owner", None)
        item["owner"] = item["owner"] or task.get("documentOwner")
        item["current_owner"] = task.get("documentOwner")
        # a new owner starts the stats from zero: keep what the lost owner had reported
        item.update(stage=summary["stage"], fetched=max(item["fetched"], summary["fetched"]),
                    processed=max(item["processed"], summary["processed"]),
                    latest_source_update_time_micros=summary["latest_source_update_time_micros"],
                    failure=summary["failure"], elapsed=round(self.clock() - item["started"], 3))
        return item

    def green_available(self, groups_report):
        """Ids of the AVAILABLE green nodes, as the node we poll sees them (None if it cannot say)."""
        reference = self.params["destination_node_group"]
        try:
            group = self.green.get(path_of(reference), **self.poll_read()).data or {}
        except ApiError as exc:
            if exc.status is None:
                self.failover(groups_report)  # the node we poll is silent: read through another from now on
            return None
        return set(groups.summarize(reference, group)["available"])

    def check_owner(self, item, available):
        """Mark a running task ORPHANED once its owner has stayed gone for OWNER_GONE_POLLS polls."""
        owner = item.get("owner")
        if not owner or item["stage"] in reads.TERMINAL:
            return
        replaced = item.get("current_owner") not in (None, owner)
        gone = replaced or (available is not None and owner not in available)
        item["owner_gone"] = item.get("owner_gone", 0) + 1 if gone else 0
        if item["owner_gone"] < OWNER_GONE_POLLS:
            return
        how = ("green node %s now owns it" % item["current_owner"]) if replaced else "it is no longer AVAILABLE in the green group"
        item.update(stage=ORPHANED, failure=(
            "the green node %s %s (%s) while the pass was running. Xenon "
            "replicates the task, but the node that takes it over keeps it %s and never resumes the pass, so it would "
            "wait forever. %d document(s) had been moved; they are on green. Re-run the migration: a new task re-sends "
            "everything since the last finished pass, which is safe with DELETE_AFTER (the default for a destination "
            "factory that is not IDEMPOTENT_POST). Point url and destination_node_group at a green node that is up, "
            "and bring %s back first if the green group is below its quorum. If %s was cut off the network rather than "
            "stopped, restart it before the re-run once it is reachable again: nothing in Xenon stops a pass in flight, so "
            "the old pass may resume there and write the documents it read before the cut over newer ones."
            % (owner, ORPHAN_MARK, how, item["stage"], item["processed"], owner, owner)))
        try:  # record it on green too, so no later run or info read counts the task as running
            self.green.request("PATCH", item["task"], json={"taskInfo": {"stage": "FAILED", "failure": {
                "message": item["failure"], "statusCode": 400}}})
        except ApiError:
            pass

    def failover(self, groups_report):
        """The green node we poll does not answer: poll through another green node (any forwards to the owner)."""
        urls = [u for u in (groups_report.get("destination") or {}).get("node_urls") or [] if u != self.green.base_url]
        if urls:
            self.green = self.connection.client(urls[0])

    @staticmethod
    def settled(item):
        if item["mode"] == "continuous":
            return item["stage"] not in (None, "CREATED")
        return item["stage"] in reads.TERMINAL

    def wait(self, items, result, deadline, groups_report=None):
        interval = float(self.params.get("poll_interval") or 2.0)
        while True:
            available = self.green_available(groups_report or {}) if any(not self.settled(i) for i in items) else None
            for item in items:
                if not self.settled(item) and item["stage"] not in ("LOST", ORPHANED):
                    try:
                        self.observe(item)
                        self.check_owner(item, available)
                    except ApiError as exc:
                        if exc.status == 404:
                            item.update(stage="LOST", failure="task %s disappeared from %s (green node restarted or "
                                        "task expired): %s" % (item["task"], self.connection.url, exc.msg))
                        elif exc.status is not None:
                            raise
                        else:
                            self.failover(groups_report or {})
            result["timeline"].append({"t": round(deadline.elapsed(), 3),
                                       "stages": {i["source"]: i["stage"] for i in items},
                                       "processed": sum(i["processed"] for i in items)})
            if len(result["timeline"]) > 200:
                result["timeline"][1:] = result["timeline"][1::2]
            if all(self.settled(i) or i["stage"] in ("LOST", ORPHANED) for i in items):
                break
            if deadline.expired():
                observed = ", ".join("%s=%s (%s processed)" % (i["source"], i["stage"], i["processed"]) for i in items)
                raise WaitTimeout("timed out after %.0fs waiting for migration tasks; last observed: %s" % (
                    deadline.elapsed(), observed), last=items, elapsed=round(deadline.elapsed(), 3), samples=result["timeline"])
            self.sleep(min(interval, max(deadline.remaining(), 0.0)))
        failed = [i for i in items if i["stage"] in ("FAILED", "CANCELLED", "LOST", ORPHANED)]
        if failed:
            result["documents_moved"] = sum(i["processed"] for i in result["factories"])
            raise TerminalFailure(
                "migration failed for %s" % "; ".join(
                    "%s -> %s: task %s %s: %s" % (i["source"], i["destination"], i["task"], i["stage"], i["failure"])
                    for i in failed),
                last=result, elapsed=round(deadline.elapsed(), 3), samples=result["timeline"])
