# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Read-only Xenon calls shared by both modules: counts, paged reads, tasks and their stats."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import queries

TASKS = "/management/migration-tasks"
TERMINAL = ("FINISHED", "FAILED", "CANCELLED")
STATS = ("processedServiceCount", "fetchedDocumentCount", "estimatedTotalServiceCount",
         "beforeTransformDocumentCount", "afterTransformDocumentCount", "deletedDocumentCount")
NOT_STARTED_HINT = (
    "MigrationTaskService is not started on %s (GET %s returned 404). Xenon hosts do not start it by "
    "default: add startFactory(new MigrationTaskService()) (or MigrationTaskService.createFactory() for an "
    "idempotent factory) to the green host's start(), redeploy green, then re-run.")


def count(client, query, include_deleted=False):
    """Number of documents matching query on the node behind client (a COUNT query task)."""
    result = client.post("/core/query-tasks", json=queries.count_task(query, include_deleted)).data or {}
    return int((result.get("results") or {}).get("documentCount") or 0)


def read_all(client, query, page_size=1000, max_pages=100000, include_deleted=False):
    """Every document matching query (owner copies, broadcast), following nextPageLink."""
    first = client.post("/core/query-tasks", json=queries.expand_task(query, page_size, include_deleted)).data or {}
    results = first.get("results") or {}
    docs = dict(results.get("documents") or {})
    link = results.get("nextPageLink")
    pages = 0
    while link and pages < max_pages:
        page = client.get(link).data or {}
        results = page.get("results") or {}
        docs.update(results.get("documents") or {})
        link = results.get("nextPageLink")
        pages += 1
    return docs


def factory_config(client, factory):
    return client.get(factory.rstrip("/") + "/config").data or {}


def migration_factory_started(client):
    try:
        client.get(TASKS)
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def list_tasks(client):
    data = client.get(TASKS, params={"expand": "true"}).data or {}
    return list((data.get("documents") or {}).values())


def task_stats(client, link, **request):
    entries = (client.get(link.rstrip("/") + "/stats", **request).data or {}).get("entries") or {}
    out = {}
    for name in STATS:
        if name in entries:
            out[name] = int(entries[name].get("latestValue") or 0)
    return out


def failure_message(task):
    failure = (task.get("taskInfo") or {}).get("failure")
    if not failure:
        return None
    return failure.get("message") or str(failure)


def task_summary(task, stats=None):
    stats = stats or {}
    info = task.get("taskInfo") or {}
    return {"task": task.get("documentSelfLink"), "stage": info.get("stage"),
            "source_factory": task.get("sourceFactoryLink"), "destination_factory": task.get("destinationFactoryLink"),
            "continuous": bool(task.get("continuousMigration")),
            "fetched": stats.get("fetchedDocumentCount", 0), "processed": stats.get("processedServiceCount", 0),
            "latest_source_update_time_micros": task.get("latestSourceUpdateTimeMicros") or 0,
            "failure": failure_message(task), "stats": stats}
