# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Parity of one factory: every blue document, passed through the same transformation service
the migration used, must be on green with byte-equal content (Xenon's infrastructure fields,
``document*``, are set by each side and left out). Counts plus a SHA-256 over the canonical
lines ``<id>\\t<sorted compact JSON>`` of each side. When the query includes deleted documents
(``INCLUDE_DELETED``), no document deleted on blue may be live on green."""

from __future__ import annotations

import hashlib
import json

from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import queries, reads

SAMPLE = 20


def canonical(doc, ignore=()):
    content = {k: v for k, v in doc.items() if not k.startswith("document") and k not in ignore}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def suffix(link, factory):
    prefix = factory.rstrip("/")
    return link[len(prefix):] if link.startswith(prefix + "/") else "/" + link.strip("/").rsplit("/", 1)[-1]


def checksum(lines):
    digest = hashlib.sha256()
    for key in sorted(lines):
        digest.update(("%s\t%s\n" % (key, lines[key])).encode("utf-8"))
    return digest.hexdigest()


def transform(client, link, doc, destination, use_transform_request):
    """Call the transformation service like MigrationTaskService does; [(doc, factory)]."""
    if use_transform_request:
        data = client.post(link, json={"originalDocument": json.dumps(doc), "destinationLink": destination}).data or {}
        mapping = data.get("destinationLinks") or {}
    else:
        mapping = client.post(link, json={json.dumps(doc): destination}).data or {}
    return [(json.loads(key), factory) for key, factory in mapping.items()]


def expected_lines(blue_docs, source, destination, green_client=None, transform_link=None,
                   use_transform_request=False, ignore=()):
    lines = {}
    for link, doc in blue_docs.items():
        stripped = dict(doc, documentSelfLink=suffix(link, source))
        pairs = transform(green_client, transform_link, stripped, destination, use_transform_request) \
            if transform_link else [(stripped, destination)]
        for out, factory in pairs:
            if factory.rstrip("/") == destination.rstrip("/"):
                lines[suffix(out.get("documentSelfLink") or stripped["documentSelfLink"], destination)] = canonical(out, ignore)
    return lines


def compare(expected, actual):
    missing = sorted(k for k in expected if k not in actual)
    extra = sorted(k for k in actual if k not in expected)
    different = sorted(k for k in expected if k in actual and expected[k] != actual[k])
    return {"in_parity": not (missing or extra or different),
            "expected_count": len(expected), "destination_count": len(actual),
            "expected_checksum": checksum(expected), "destination_checksum": checksum(actual),
            "missing_count": len(missing), "extra_count": len(extra), "different_count": len(different),
            "missing": missing[:SAMPLE], "extra": extra[:SAMPLE], "different": different[:SAMPLE]}


def factory_parity(blue, green, source, destination, query_spec=None, transform_link=None,
                   use_transform_request=False, ignore=()):
    blue_docs = reads.read_all(blue, queries.selection(source, query_spec))
    green_docs = reads.read_all(green, queries.selection(destination))
    expected = expected_lines(blue_docs, source, destination, green, transform_link, use_transform_request, ignore)
    actual = {suffix(link, destination): canonical(doc, ignore) for link, doc in green_docs.items()}
    result = compare(expected, actual)
    result["source_count"] = len(blue_docs)
    if queries.include_deleted(query_spec):
        # documents deleted on blue must not be live on green (they are also counted in extra)
        deleted = reads.read_all(blue, queries.deleted_only(queries.selection(source, query_spec)), include_deleted=True)
        gone = expected_lines(deleted, source, destination, green, transform_link, use_transform_request, ignore)
        live = sorted(k for k in gone if k in actual)
        result.update(source_deleted_count=len(gone), deleted_live_count=len(live), deleted_live=live[:SAMPLE])
        result["in_parity"] = result["in_parity"] and not live
    return result
