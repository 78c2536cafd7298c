# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The decision point after an operator-driven update: is the cluster where the update should
have left it? Every check is reported, passed or not, so a report shows why."""

from __future__ import annotations

import math

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.version import parse_version
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.images import version_of_image


def expected_version(image):
    """The EMQX version an image tag names ('emqx/emqx-enterprise:5.10.4' -> (5, 10, 4)); None when
    the tag is not a version (a digest, 'latest')."""
    tag = version_of_image(image)
    return parse_version(tag) if tag else None


def _check(name, passed, detail):
    return {"name": name, "passed": bool(passed), "detail": detail}


def decide(info, image, baseline_connections=0, min_fraction=0.9, accepted_hazards=()):
    """``info`` is an emqx_operator_info result read after the update."""
    emqx = info.get("emqx")
    if not emqx:
        check = _check("resource", False, "the EMQX resource was not found")
        return {"passed": False, "reasons": [check["detail"]], "checks": [check]}
    checks = []
    revisions = emqx["revisions"]["core"] or {}
    checks.append(_check("ready_on_new_revision", emqx["ready"] and emqx["updated"],
                         "Ready %s, currentRevision %s, updateRevision %s" % (
                             emqx["ready"], revisions.get("current"), revisions.get("update"))))
    checks.append(_check("image", emqx["image"] == image, "spec.image %s (expected %s)" % (emqx["image"], image)))
    want = expected_version(image)
    running = [n for n in emqx["nodes"] if n["status"] == "running"]
    if want:
        behind = ["%s %s" % (n["name"], n["version"]) for n in running if parse_version(n["version"]) != want]
        checks.append(_check("nodes_on_new_version", running and not behind,
                             "nodes on another version than %s (the image tag): %s"
                             % (".".join(str(p) for p in want), ", ".join(behind)) if behind else (
                                 "every running node runs %s" % ".".join(str(p) for p in want) if running
                                 else "no running node")))
    else:
        checks.append(_check("nodes_on_new_version", bool(running),
                             "image tag carries no version; %d running nodes, versions %s" % (
                                 len(running), ", ".join(emqx["versions"]) or "none")))
    evacuating = ["%s %s" % (e["node"], e["state"]) for e in emqx["evacuations"]]
    checks.append(_check("no_evacuation_left", not evacuating,
                         "evacuations still listed: %s" % ", ".join(evacuating) if evacuating else "no evacuation listed"))
    required = int(math.ceil(float(min_fraction) * int(baseline_connections or 0)))
    checks.append(_check("connections_recovered", emqx["total_connections"] >= required,
                         "%d connections on the running nodes, %d required (%s of %d before the update)" % (
                             emqx["total_connections"], required, min_fraction, int(baseline_connections or 0))))
    open_hazards = [h for h in info.get("hazards") or [] if h["id"] not in accepted_hazards]
    checks.append(_check("no_hazards", not open_hazards,
                         "; ".join(h["message"] for h in open_hazards) if open_hazards else "none"))
    reasons = ["%s: %s" % (c["name"], c["detail"]) for c in checks if not c["passed"]]
    return {"passed": not reasons, "reasons": reasons, "checks": checks,
            "connections": emqx["total_connections"], "required_connections": required}
