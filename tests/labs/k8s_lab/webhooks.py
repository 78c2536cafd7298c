"""The operator's validating webhook for ``Rebalance``: the spec is immutable after creation.

A real cluster answers a denied admission with 403 and this message shape; clients see it
exactly as they would see the operator's webhook."""
from k8s_lab import crds, errors


def rebalance_spec_immutable(operation, definition, old, new):
    if operation != "UPDATE" or (definition.group, definition.kind) != (crds.GROUP, "Rebalance"):
        return
    if old.get("spec") != new.get("spec"):
        raise errors.ApiStatus(
            403, "Forbidden",
            'admission webhook "vrebalance.kb.io" denied the request: the Rebalance spec don\'t allow update',
            {"name": new["metadata"]["name"], "group": definition.group, "kind": "rebalances"})


ALL = (rebalance_spec_immutable,)
