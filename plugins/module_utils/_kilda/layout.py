# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Kilda's znode layout and value encoding (see the Kilda reference, sections 2.1-2.3).

Paths are absolute: ``<prefix>/<component>/<env_id>/<child>`` where prefix is Kilda's chroot,
``/kilda`` unless the deployment changed ``kilda_zookeeper_state_root``.
"""

from __future__ import annotations

import re

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError

SIGNAL = "signal"
STATE = "state"
EXPECTED_STATE = "expected_state"
BUILD_VERSION = "build-version"
CHILDREN = (SIGNAL, STATE, EXPECTED_STATE, BUILD_VERSION)

SIGNALS = ("START", "SHUTDOWN")
DEFAULT_PREFIX = "/kilda"

# The 15 Storm topologies (docker/wfm/app/Makefile TOPOLOGY list); history is missing from the
# design document but is deployed and health-checked like the others.
TOPOLOGIES = (
    "network", "flowhs", "flowmonitoring", "stats", "isllatency", "opentsdb", "portstate", "nbworker",
    "ping", "reroute", "swmanager", "floodlightrouter", "connecteddevices", "server42-control", "history",
)
FLOODLIGHT = "floodlight"
# These only use ZooKeeper for build-version: their signal node exists but nothing reads it and
# they never write state, so waiting on them would never end.
VERSION_ONLY = ("northbound", "grpc", "server42-control-app", "server42-stats-app",
                "server42-control-storm-stub", "func_test")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def reacts_to_signal(component):
    return component not in VERSION_ONLY


def normalize_prefix(prefix):
    prefix = (prefix or DEFAULT_PREFIX).strip()
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    prefix = prefix.rstrip("/")
    if not prefix or "//" in prefix:
        raise ValidationError("prefix must be a ZooKeeper path such as /kilda, got %r" % prefix)
    return prefix


def check_name(kind, value):
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError("%s %r is not a valid znode name (letters, digits, '.', '_', '-')" % (kind, value))
    return value


def check_build_version(value):
    """Kilda copies build-version byte for byte into every Kafka header and compares it byte for
    byte, so an empty value or stray whitespace (a YAML '>' scalar adds a newline) would
    silently cut the component off from all traffic."""
    if value is None:
        return None
    if value == "":
        raise ValidationError("build_version must not be empty: components would run with an empty "
                              "version and drop every Kafka record")
    if value != value.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError("build_version %r contains whitespace at an end or a control character "
                              "(such as a newline); Kilda compares it byte for byte" % value)
    return value


def check_signal(value):
    if value is None:
        return None
    if value not in SIGNALS:
        raise ValidationError("signal must be exactly START or SHUTDOWN (case-sensitive), got %r" % value)
    return value


class Target:
    """One component instance: ``component`` plus its env_id (a colour, a Floodlight region or
    a fixed run id)."""

    def __init__(self, prefix, component, env):
        self.prefix = prefix
        self.component = check_name("component", component)
        self.env = check_name("env", env)

    @property
    def key(self):
        return "%s/%s" % (self.component, self.env)

    @property
    def path(self):
        return "%s/%s/%s" % (self.prefix, self.component, self.env)

    def child(self, name):
        return "%s/%s" % (self.path, name)

    def parents(self):
        """The nodes above the children, outermost first (the chroot included)."""
        return [self.prefix, "%s/%s" % (self.prefix, self.component), self.path]

    @property
    def reacts(self):
        return reacts_to_signal(self.component)


def parse_targets(prefix, items):
    """``items``: dicts with component and env; duplicates are refused because a transaction
    may not write the same node twice."""
    targets, seen = [], set()
    for item in items or []:
        target = Target(prefix, item.get("component"), item.get("env"))
        if target.key in seen:
            raise ValidationError("target %s is listed twice" % target.key)
        seen.add(target.key)
        targets.append(target)
    if not targets:
        raise ValidationError("targets must list at least one {component, env}")
    return targets


def parse_int(value):
    """state/expected_state text -> int, or None when empty, missing or not a number."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None
