# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Read the znodes of many components at once.

All reads are issued asynchronously and collected afterwards, so reading 20 components costs
about one round trip instead of eighty.
"""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout

try:
    from kazoo.exceptions import NoNodeError
except ImportError:
    NoNodeError = None  # the modules report the missing library before anything is read


class Node:
    """One znode as read: value is None when it does not exist."""

    def __init__(self, value=None, version=None, mzxid=None):
        self.value = value
        self.version = version
        self.mzxid = mzxid  # the zxid of its last write; its high 32 bits are the leader epoch

    @property
    def exists(self):
        return self.version is not None


class Snapshot:
    """The children of one target plus which of its parents exist."""

    def __init__(self, target, nodes, parents):
        self.target = target
        self.nodes = nodes
        self.parents = parents

    def value(self, child):
        return self.nodes[child].value

    @property
    def exists(self):
        return self.parents.get(self.target.path, False)

    def as_dict(self):
        return {
            "component": self.target.component,
            "env": self.target.env,
            "path": self.target.path,
            "exists": self.exists,
            "signal": self.value(layout.SIGNAL),
            "state": self.value(layout.STATE),
            "expected_state": self.value(layout.EXPECTED_STATE),
            "build_version": self.value(layout.BUILD_VERSION),
        }


def read(client, targets):
    """Snapshots of ``targets`` in order: every child and which parents exist."""
    exists = {}
    for target in targets:
        for path in target.parents():
            if path not in exists:
                exists[path] = client.exists_async(path)
    nodes = _read_nodes(client, [t.child(c) for t in targets for c in layout.CHILDREN])
    present = {path: result.get() is not None for path, result in exists.items()}
    return [Snapshot(t, {c: nodes[t.child(c)] for c in layout.CHILDREN}, present) for t in targets]


def read_counters(client, snapshots, watch):
    """``snapshots`` with ``state`` and ``expected_state`` read again, and ``watch`` (a callable)
    armed on both so a waiter wakes up as soon as either changes. The signal and build-version
    are kept as they were: a waiter only needs the counters, and reads a third as much."""
    counters = (layout.STATE, layout.EXPECTED_STATE)
    nodes = _read_nodes(client, [s.target.child(c) for s in snapshots for c in counters], watch=watch)
    return [Snapshot(s.target, dict(s.nodes, **{c: nodes[s.target.child(c)] for c in counters}), s.parents)
            for s in snapshots]


def _read_nodes(client, paths, watch=None):
    """{path: Node}, all reads in flight at once (one round trip for all of them)."""
    gets = {path: client.get_async(path, watch=watch) for path in paths}
    out, missing = {}, []
    for path, result in gets.items():
        try:
            data, stat = result.get()
        except NoNodeError:
            out[path] = Node()
            missing.append(path)
        else:
            out[path] = Node((data or b"").decode("utf-8", "replace"), stat.version, getattr(stat, "mzxid", None))
    if watch and missing:
        # A get sets no watch on a missing node; exists does, so its creation wakes the waiter
        # too. A node created between the two reads is reported through the watch at once.
        checks = [client.exists_async(path, watch=watch) for path in missing]
        if any(check.get() is not None for check in checks):
            watch(None)
    return out
