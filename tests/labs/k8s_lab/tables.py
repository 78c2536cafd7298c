"""Server-side ``Table`` rendering, which ``kubectl get`` asks for (``Accept: ...;as=Table``).

Columns come from the CRD's ``additionalPrinterColumns``; without any the server shows Age only,
as a real API server does; a cell shows the first value the column's JSONPath selects, as the
API server's table convertor does. The JSONPath subset covers what printer columns use: dotted fields,
``[N]``, ``[*]`` and ``[?(@.field=="value")]`` filters."""
import datetime
import json
import re

_TOKEN = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_\-.]+)\s*(==|!=)\s*['\"]([^'\"]*)['\"]\)\]")


def parse_path(path):
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    steps, pos = [], 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match:
            raise ValueError("unsupported JSONPath %r at %r" % (path, path[pos:]))
        field, index, filter_field, op, value = match.groups()
        if field is not None:
            steps.append(("field", field))
        elif index is not None:
            steps.append(("index", int(index)))
        elif filter_field is not None:
            steps.append(("filter", (filter_field.split("."), op, value)))
        else:
            steps.append(("all", None))
        pos = match.end()
    return steps


def _dig(value, fields):
    for field in fields:
        if not isinstance(value, dict) or field not in value:
            return None
        value = value[field]
    return value


def find(document, path):
    """All values ``path`` selects in ``document`` (empty when nothing matches)."""
    current = [document]
    for kind, arg in parse_path(path):
        nxt = []
        for value in current:
            if kind == "field" and isinstance(value, dict) and arg in value:
                nxt.append(value[arg])
            elif kind == "index" and isinstance(value, list) and arg < len(value):
                nxt.append(value[arg])
            elif kind == "all" and isinstance(value, list):
                nxt.extend(value)
            elif kind == "filter" and isinstance(value, list):
                fields, op, expected = arg
                for item in value:
                    got = _dig(item, fields)
                    got = str(got) if got is not None else None
                    if (got == expected) == (op == "=="):
                        nxt.append(item)
        current = nxt
    return current


def human_age(timestamp, reference=None):
    """kubectl's short duration: 45s, 12m, 3h4m, 5d ..."""
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    reference = reference or datetime.datetime.now(datetime.timezone.utc)
    seconds = max(0, int((reference - then).total_seconds()))
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = minutes // 60
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _cell(column, obj):
    try:
        values = find(obj, column["jsonPath"])
    except ValueError:
        return None
    if not values or values[0] is None:
        return None
    # the API server's table convertor shows the first match only
    value = values[0]
    if column.get("type") == "date":
        return human_age(value)
    if column.get("type", "string") == "string":
        return value if isinstance(value, str) else json.dumps(value)
    if column.get("type") == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return value


def _cells(served, columns, obj):
    # built-in kinds compute some cells (a Deployment's READY "1/1") where a CRD uses JSONPaths
    computed = served["cells"](obj) if served.get("cells") else []
    return computed + [_cell(c, obj) for c in columns[len(computed):]]


def table(definition, version, objects, list_revision=None):
    columns = definition.versions[version]["columns"] or [AGE_COLUMN]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": list_revision} if list_revision else {},
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        + [{"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
            "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in columns],
        "rows": [{"cells": [obj["metadata"]["name"]] + _cells(definition.versions[version], columns, obj),
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}}
                 for obj in objects],
    }
