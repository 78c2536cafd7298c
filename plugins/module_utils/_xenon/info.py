# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Read-only report: migration tasks on green (stage, counters from /stats, failure), node-group
health, per-factory document counts and, on request, a parity check."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import groups, parity, queries, reads
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.migration import normalize_factories


def gather(connection, params):
    green = connection.client()
    out = {"changed": False, "migration_factory_started": reads.migration_factory_started(green),
           "tasks": [], "node_groups": {}, "factories": []}
    if out["migration_factory_started"]:
        for task in sorted(reads.list_tasks(green), key=lambda t: t.get("documentSelfLink") or ""):
            try:
                stats = reads.task_stats(green, task["documentSelfLink"])
            except ApiError:
                stats = {}  # the task expired between the listing and this read
            out["tasks"].append(reads.task_summary(task, stats))
    for side in ("source", "destination"):
        reference = params.get("%s_node_group" % side)
        if reference:
            try:
                out["node_groups"][side] = groups.inspect(connection, reference)
            except ApiError as exc:
                out["node_groups"][side] = {"reference": reference, "problems": [exc.msg]}
    if params.get("factories"):
        if not params.get("source_node_group"):
            raise ValidationError("source_node_group is required to count or compare factories")
        blue = connection.client(params["source_node_group"])
        use_v2 = "USE_TRANSFORM_REQUEST" in (params.get("migration_options") or [])
        for pair in normalize_factories(params["factories"]):
            item = {"source": pair["source"], "destination": pair["destination"],
                    "source_count": reads.count(blue, queries.selection(pair["source"], params.get("query_spec"))),
                    "destination_count": reads.count(green, queries.selection(pair["destination"]))}
            if params.get("parity"):
                item["parity"] = parity.factory_parity(
                    blue, green, pair["source"], pair["destination"], params.get("query_spec"),
                    params.get("transformation_service_link"), use_v2, params.get("ignore_fields") or ())
            out["factories"].append(item)
        if params.get("parity"):
            out["in_parity"] = all(f["parity"]["in_parity"] for f in out["factories"])
    return out
