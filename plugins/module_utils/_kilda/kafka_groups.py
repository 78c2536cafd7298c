# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The post-deployment step: delete the old colour's Kafka consumer groups (and so their
committed offsets), so the next release of that colour starts them afresh.

Which groups belong to a colour (Kilda reference, section 5):
  * Storm spouts: ``[<prefix>_]<topology>_<colour>__<spout id>``;
  * GRPC: ``[<prefix>_]grpc-speaker-consumer-<colour>``.
Never touched: ``northbound-consumer`` (shared by both colours on purpose), Floodlight groups
(per region, no colour) and the server42 groups (fixed names).
"""

from __future__ import annotations

import re
import traceback

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError, ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout

try:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
except ImportError:
    HAS_CONFLUENT_KAFKA = False
    CONFLUENT_KAFKA_IMPORT_ERROR = traceback.format_exc()
    KafkaException = Exception
else:
    HAS_CONFLUENT_KAFKA = True
    CONFLUENT_KAFKA_IMPORT_ERROR = None

PROTECTED = ("northbound-consumer",)


def _named(prefix, name):
    return "%s_%s" % (prefix, name) if prefix else name


def colour_patterns(colour, naming_prefix="", topologies=layout.TOPOLOGIES, extra_patterns=()):
    """Compiled regular expressions matching the colour-specific groups."""
    layout.check_name("colour", colour)
    patterns = [re.compile(r"^%s__.+$" % re.escape(_named(naming_prefix, "%s_%s" % (t, colour)))) for t in topologies]
    patterns.append(re.compile(r"^%s$" % re.escape(_named(naming_prefix, "grpc-speaker-consumer-%s" % colour))))
    for pattern in extra_patterns or ():
        try:
            patterns.append(re.compile(pattern))
        except re.error as exc:
            raise ValidationError("pattern %r is not a regular expression: %s" % (pattern, exc))
    return patterns


def select(existing, patterns, extra_groups=(), naming_prefix=""):
    """Groups of ``existing`` to delete, sorted; shared groups are never selected."""
    protected = {_named(naming_prefix, p) for p in PROTECTED} | set(PROTECTED)
    chosen = {g for g in existing if any(p.search(g) for p in patterns)}
    chosen |= {g for g in extra_groups or () if g in existing}
    refused = sorted(chosen & protected)
    if refused:
        raise ValidationError("refusing to delete %s: shared by both colours" % ", ".join(refused))
    return sorted(chosen)


def admin_config(params):
    conf = {"bootstrap.servers": params["bootstrap_servers"], "socket.timeout.ms": int(params["request_timeout"] * 1000)}
    if params.get("security_protocol"):
        conf["security.protocol"] = params["security_protocol"]
    if params.get("sasl_mechanism"):
        conf["sasl.mechanism"] = params["sasl_mechanism"]
    if params.get("sasl_username"):
        conf["sasl.username"] = params["sasl_username"]
        conf["sasl.password"] = params.get("sasl_password") or ""
    if params.get("ssl_ca_location"):
        conf["ssl.ca.location"] = params["ssl_ca_location"]
    return conf


def _error(what, exc, **details):
    err = exc.args[0] if exc.args else exc
    name = getattr(err, "name", lambda: type(exc).__name__)()
    text = getattr(err, "str", lambda: str(exc))()
    return ZdtError("%s: %s (%s)" % (what, text, name), kafka_error=name, **details)


def run(params, check_mode, admin=None):
    timeout = float(params["request_timeout"])
    if admin is None:
        try:
            admin = AdminClient(admin_config(params))
        except KafkaException as exc:
            raise _error("cannot create a Kafka admin client for %s" % params["bootstrap_servers"], exc)
    patterns = colour_patterns(params["colour"], params.get("naming_prefix") or "",
                               params.get("topologies") or layout.TOPOLOGIES, params.get("patterns"))
    try:
        listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout)
    except KafkaException as exc:
        raise _error("listing consumer groups on %s failed" % params["bootstrap_servers"], exc)
    existing = sorted(g.group_id for g in listing.valid)
    chosen = select(existing, patterns, params.get("groups"), params.get("naming_prefix") or "")
    result = {"changed": bool(chosen), "deleted": chosen, "kept": [g for g in existing if g not in chosen]}
    if check_mode or not chosen:
        return result
    futures = admin.delete_consumer_groups(chosen, request_timeout=timeout)
    failed = {}
    for group, future in sorted(futures.items()):
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            failed[group] = getattr(err, "str", lambda: str(exc))()
    if failed:
        raise ZdtError("could not delete %d consumer group(s): %s. A group that still has members (a running "
                       "topology of that colour) cannot be deleted; terminate it first"
                       % (len(failed), "; ".join("%s: %s" % kv for kv in sorted(failed.items()))),
                       changed=len(failed) < len(chosen), deleted=[g for g in chosen if g not in failed], failed=failed)
    return result
