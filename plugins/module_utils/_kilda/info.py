# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""kilda_zk_info: every component of one colour and a consistency verdict.

The verdict is the project's own health check (Kilda reference, section 4.5) plus the doc's
build-version check: one build-version across the colour, and every component that reacts to
signals settled for the signal it was given.
"""

from __future__ import annotations

import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError, ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout, settle, snapshot

try:
    from kazoo.exceptions import NoNodeError
except ImportError:
    NoNodeError = None


def discover(client, prefix, env):
    """Components that have an ``<env>`` instance under the chroot."""
    try:
        names = sorted(client.get_children(prefix))
    except NoNodeError:
        raise ZdtError("Kilda's chroot %s does not exist on this ensemble (is prefix right?)" % prefix, prefix=prefix)
    checks = [(name, client.exists_async("%s/%s/%s" % (prefix, name, env))) for name in names]
    return [name for name, result in checks if result.get() is not None]


def select(client, prefix, env, components, regions):
    """Targets to report: ``components`` entries are a name (instance ``env``) or ``name/env_id``."""
    targets = []
    if components is not None:
        for item in components:
            name, dummy, env_id = item.partition("/")
            targets.append(layout.Target(prefix, name, env_id or env))
    else:
        targets = [layout.Target(prefix, name, env) for name in discover(client, prefix, env)]
    for region in regions or []:
        targets.append(layout.Target(prefix, layout.FLOODLIGHT, region))
    keys = [t.key for t in targets]
    if len(set(keys)) != len(keys):
        raise ValidationError("a component is listed twice: %s" % ", ".join(sorted(k for k in keys if keys.count(k) > 1)))
    return targets


def component_report(snap):
    out = snap.as_dict()
    out["id"] = snap.target.key
    out["reacts_to_signal"] = snap.target.reacts
    out["settled"] = None
    out["problem"] = None
    if not snap.exists:
        out["problem"] = "does not exist"
        out["settled"] = False
    elif snap.target.reacts:
        signal = snap.value(layout.SIGNAL)
        if signal not in layout.SIGNALS:
            out["settled"] = False
            out["problem"] = "no signal" if not signal else "unknown signal %r" % signal
        else:
            out["settled"], why = settle.check(snap, signal)
            if not out["settled"]:
                out["problem"] = why
    if snap.exists and not snap.value(layout.BUILD_VERSION):
        out["problem"] = (out["problem"] + "; " if out["problem"] else "") + "build-version missing or empty"
    return out


def verdict(reports):
    versions = {}
    for item in reports:
        if item["exists"]:
            versions.setdefault(item["build_version"], []).append(item["id"])
    unsettled = [r["id"] for r in reports if r["settled"] is False]
    problems = ["%s: %s" % (r["id"], r["problem"]) for r in reports if r["problem"]]
    if len(versions) > 1:
        problems.append("build-versions differ: %s" % "; ".join(
            "%s on %s" % ("<missing>" if v is None else repr(v), ", ".join(ids)) for v, ids in sorted(versions.items(), key=lambda kv: str(kv[0]))))
    signals = {}
    for r in reports:
        if r["reacts_to_signal"] and r["exists"]:
            signals.setdefault(r["signal"] or "", []).append(r["id"])
    return {
        "consistent": bool(reports) and len(versions) == 1 and not unsettled and all(r["exists"] for r in reports),
        "build_version_consistent": len(versions) == 1,
        "build_versions": sorted(str(v) for v in versions),
        "states_settled": not unsettled,
        "unsettled": unsettled,
        "signals": signals,
        "problems": problems,
    }


def run(client, params):
    started = time.monotonic()
    prefix = layout.normalize_prefix(params.get("prefix"))
    env = layout.check_name("env", params["env"])
    # A leader election drops the connection for about a second; kazoo's retry rides it out.
    targets = client.retry(select, client, prefix, env, params.get("components"), params.get("regions"))
    reports = [component_report(s) for s in client.retry(snapshot.read, client, targets)]
    return {
        "changed": False,
        "prefix": prefix,
        "env": env,
        "components": reports,
        "verdict": verdict(reports),
        "elapsed": round(time.monotonic() - started, 3),
    }
