"""The lab's transformation services (stateless, on every node), for both contracts of the
reference: legacy map ``{"<json doc>": "<factory>"}`` and v2 ``{"originalDocument", "destinationLink"}``.

``schema-v2`` models a green release that adds a field; ``broken`` models a transformation
service that errors, which must fail the migration task.
"""
import json


def schema_v2(doc):
    """Blue document -> green document (also used by tests to compute the expected content)."""
    out = dict(doc)
    out["schemaVersion"] = 2
    return out


def handle(name, body):
    """Return (status, response body) for a transform call."""
    if name == "broken":
        return 500, {"message": "transformation rejected the document: schema v2 validation failed", "statusCode": 500}
    if name != "schema-v2":
        return 404, None
    if isinstance(body, dict) and "originalDocument" in body:
        doc = json.loads(body["originalDocument"])
        return 200, {"destinationLinks": {json.dumps(schema_v2(doc)): body.get("destinationLink")}}
    if not isinstance(body, dict) or len(body) != 1:
        return 400, {"message": "legacy transform request must hold exactly one entry", "statusCode": 400}
    (source, factory), = body.items()
    return 200, {json.dumps(schema_v2(json.loads(source))): factory}
