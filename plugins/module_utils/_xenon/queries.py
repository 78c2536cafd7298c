# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Query specifications as Xenon reads them (note the real, misspelled field ``occurance``)."""

from __future__ import annotations

import copy

LONG_MAX = 9223372036854775807


def factory_clause(factory):
    prefix = factory if factory.endswith("/") else factory + "/"
    return {"occurance": "MUST_OCCUR",
            "term": {"propertyName": "documentSelfLink", "matchValue": prefix, "matchType": "PREFIX"}}


def updated_after_clause(micros):
    """documentUpdateTimeMicros > micros (exclusive, like createGreaterThanRange in Xenon's tests)."""
    return {"occurance": "MUST_OCCUR",
            "term": {"propertyName": "documentUpdateTimeMicros",
                     "range": {"type": "LONG", "min": int(micros), "max": LONG_MAX, "isMinInclusive": False,
                               "isMaxInclusive": True, "precisionStep": 16}}}


def user_clauses(query_spec):
    """The user's query as a list of boolean clauses.

    MigrationTaskService replaces a query without booleanClauses by its factory clause, silently
    dropping a bare top-level term, so a bare term is wrapped into a clause here."""
    query = (query_spec or {}).get("query")
    if not query:
        return []
    if query.get("booleanClauses"):
        if query.get("term") is not None:
            raise ValueError("query_spec.query has both a term and booleanClauses; put the term inside booleanClauses")
        return copy.deepcopy(query["booleanClauses"])
    clause = copy.deepcopy(query)
    clause.setdefault("occurance", "MUST_OCCUR")
    return [clause]


def task_query_spec(query_spec, since_micros=0):
    """querySpec for a migration task: user clauses plus the delta range (the task adds the factory)."""
    spec = copy.deepcopy(query_spec or {})
    clauses = user_clauses(query_spec)
    if since_micros:
        clauses.append(updated_after_clause(since_micros))
    if clauses:
        spec["query"] = {"occurance": "MUST_OCCUR", "booleanClauses": clauses}
    else:
        spec.pop("query", None)
    return spec


def selection(factory, query_spec=None, since_micros=0):
    """The full query the task will run on the source: factory prefix + user clauses + delta."""
    clauses = user_clauses(query_spec) + [factory_clause(factory)]
    if since_micros:
        clauses.append(updated_after_clause(since_micros))
    return {"occurance": "MUST_OCCUR", "booleanClauses": clauses}


def include_deleted(query_spec):
    """True when the user's querySpec asks Xenon to migrate deleted documents too."""
    return "INCLUDE_DELETED" in ((query_spec or {}).get("options") or [])


def deleted_only(query):
    """query restricted to documents whose last action was a DELETE (read them with INCLUDE_DELETED)."""
    out = copy.deepcopy(query)
    out["booleanClauses"].append({"occurance": "MUST_OCCUR", "term": {
        "propertyName": "documentUpdateAction", "matchValue": "DELETE", "matchType": "TERM"}})
    return out


def count_task(query, include_deleted=False):
    options = ["COUNT"] + (["INCLUDE_DELETED"] if include_deleted else [])
    return {"taskInfo": {"isDirect": True}, "querySpec": {"query": query, "options": options}}


def expand_task(query, page_size=1000, include_deleted=False):
    options = ["EXPAND_CONTENT", "BROADCAST", "OWNER_SELECTION"] + (["INCLUDE_DELETED"] if include_deleted else [])
    return {"taskInfo": {"isDirect": True}, "querySpec": {"query": query, "options": options, "resultLimit": page_size}}
