# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Input validation for the EMQX modules. Everything here runs before the first request, so
bad input never reaches a cluster; every problem found is reported at once."""

from __future__ import annotations

import re
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import check_wait_params

# Erlang node names: name@host, host being a short name, FQDN, IPv4 or bracket-less IPv6.
NODE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*@[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}
MAX_DURATION_S = 4294967  # EMQX's schema range for the *_wait_* durations
SERVER_REFERENCE = re.compile(r"^[A-Za-z0-9_.\[\]:-]+(:\d{1,5})?$")


def parse_duration(value, name):
    """Seconds (float) from an int/float (seconds) or a string like "30s", "1m", "500ms"."""
    if isinstance(value, bool):
        raise ValueError("%s must be a duration (seconds, or a string like '30s'), got a boolean" % name)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = DURATION.match(str(value))
        if not match:
            raise ValueError("%s must be a duration: seconds as a number, or a string like '30s', '1m', '500ms'; got %r" % (name, value))
        seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("%s must not be negative, got %r" % (name, value))
    return seconds


def check_node_name(value, name):
    if not isinstance(value, str) or not NODE_NAME.match(value):
        return ["%s: %r is not an EMQX node name (expected name@host, e.g. emqx@10.0.0.5)" % (name, value)]
    return []


def check_node_list(values, name, exclude=None):
    problems = []
    if values is None:
        return problems
    if not isinstance(values, list) or not values:
        return ["%s must be a non-empty list of node names" % name]
    for value in values:
        problems += check_node_name(value, "%s item" % name)
    duplicates = sorted({v for v in values if values.count(v) > 1 and isinstance(v, str)})
    if duplicates:
        problems.append("%s lists %s more than once" % (name, ", ".join(duplicates)))
    if exclude and exclude in values:
        problems.append("%s must not contain the node being acted on (%s)" % (name, exclude))
    return problems


def check_positive_int(params, names):
    problems = []
    for name in names:
        value = params.get(name)
        if value is not None and value < 1:
            problems.append("%s must be a positive integer, got %s" % (name, value))
    return problems


def check_durations(params, names, maximum=MAX_DURATION_S, positive=False):
    """Validate durations and return (problems, {name: seconds})."""
    problems, parsed = [], {}
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        try:
            seconds = parse_duration(value, name)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if seconds > maximum:
            problems.append("%s must be at most %s seconds, got %r" % (name, maximum, value))
        elif positive and seconds <= 0:
            problems.append("%s must be greater than zero, got %r" % (name, value))
        else:
            parsed[name] = seconds
    return problems, parsed


def check_redirect_to(value):
    if value is None:
        return []
    if not isinstance(value, str) or not value.strip():
        return ["redirect_to must be a non-empty MQTT 5 Server Reference such as 'mqtt-green.example.com:1883'"]
    problems = []
    for token in value.split():
        if not SERVER_REFERENCE.match(token):
            problems.append("redirect_to: %r is not a host or host:port" % token)
        elif ":" in token and token.rsplit(":", 1)[1].isdigit() and not 0 < int(token.rsplit(":", 1)[1]) < 65536:
            problems.append("redirect_to: port in %r is out of range" % token)
    return problems


def check_conflicts(params, state_key, state_value, names):
    """Options that only mean something for another state."""
    given = [n for n in names if params.get(n) is not None]
    if given and params.get(state_key) == state_value:
        return ["%s only apply when starting (not with %s=%s)" % (", ".join(given), state_key, state_value)]
    return []


EVACUATION_START_OPTIONS = (
    "conn_evict_rate", "sess_evict_rate", "wait_health_check", "wait_takeover", "redirect_to", "migrate_to", "start_at",
)
# Farthest ahead start_at may lie: further is a mistake, or a clock far behind the controller's.
MAX_START_AHEAD = 60.0


def validate_evacuation(params, now=time.time):
    """Problems with emqx_evacuation's options, and the parsed durations."""
    problems = check_node_name(params.get("node"), "node")
    problems += check_conflicts(params, "state", "normal", EVACUATION_START_OPTIONS)
    problems += check_positive_int(params, ("conn_evict_rate", "sess_evict_rate"))
    duration_problems, durations = check_durations(params, ("wait_health_check", "wait_takeover"))
    problems += duration_problems
    problems += check_redirect_to(params.get("redirect_to"))
    problems += check_node_list(params.get("migrate_to"), "migrate_to", exclude=params.get("node"))
    problems += check_wait_params(params)
    if params.get("start_at") is not None:
        ahead = params["start_at"] - now()
        if ahead > MAX_START_AHEAD:
            problems.append("start_at lies %.0f s ahead of this host's clock, more than %d s: a mistake, or this host's clock is "
                            "behind the controller's" % (ahead, MAX_START_AHEAD))
    return problems, durations


REBALANCE_START_OPTIONS = (
    "nodes", "conn_evict_rate", "sess_evict_rate", "wait_health_check", "wait_takeover", "abs_conn_threshold",
    "rel_conn_threshold", "abs_sess_threshold", "rel_sess_threshold", "conn_evict_rpc_timeout", "sess_evict_rpc_timeout",
)


def validate_rebalance(params):
    problems = check_node_name(params.get("node"), "node")
    problems += check_conflicts(params, "state", "absent", REBALANCE_START_OPTIONS)
    problems += check_positive_int(params, ("conn_evict_rate", "sess_evict_rate", "abs_conn_threshold", "abs_sess_threshold"))
    for name in ("rel_conn_threshold", "rel_sess_threshold"):
        value = params.get(name)
        if value is not None and not value > 1.0:
            problems.append("%s must be greater than 1.0 (EMQX rejects 1.0 and below), got %s" % (name, value))
    duration_problems, durations = check_durations(params, ("wait_health_check", "wait_takeover"))
    problems += duration_problems
    rpc_problems, rpc = check_durations(params, ("conn_evict_rpc_timeout", "sess_evict_rpc_timeout"), positive=True)
    problems += rpc_problems
    durations.update(rpc)
    nodes = params.get("nodes")
    problems += check_node_list(nodes, "nodes")
    if isinstance(nodes, list) and len(nodes) == 1:
        problems.append("nodes must name at least two nodes: a rebalance needs a donor and a recipient")
    problems += check_wait_params(params)
    return problems, durations
