"""The operator's validating webhook for ``Rebalance`` v2beta1, ``validator.rebalance.emqx.io``
(apis/apps/v2beta1/rebalance_webhook.go): on create the relative thresholds must parse as Go
float64s; on update the spec may not change (the generation may not move).

A real cluster answers a denied admission with 403 and this message shape; clients see it
exactly as they would see the operator's webhook. The webhook is registered for v2beta1 only:
a v1beta4 request is not checked."""
import re

from k8s_lab import crds, errors

NAME = "validator.rebalance.emqx.io"
# what strconv.ParseFloat(s, 64) accepts: decimal and hexadecimal floats, Inf/Infinity/NaN, no spaces
GO_FLOAT = re.compile(r"^[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|0[xX]([0-9a-fA-F]+(\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?\d+"
                      r"|[iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])$")


def _deny(new, definition, message):
    raise errors.ApiStatus(403, "Forbidden", 'admission webhook "%s" denied the request: %s' % (NAME, message),
                           {"name": new["metadata"]["name"], "group": definition.group, "kind": "rebalances"})


def rebalance_validator(operation, definition, old, new):
    if (definition.group, definition.kind) != (crds.GROUP, "Rebalance") or operation not in ("CREATE", "UPDATE"):
        return
    if new.get("apiVersion") != "%s/v2beta1" % crds.GROUP:
        return
    if operation == "CREATE":
        strategy = (new.get("spec") or {}).get("rebalanceStrategy") or {}
        for field in ("relConnThreshold", "relSessThreshold"):
            value = strategy.get(field)
            if value not in (None, "") and not GO_FLOAT.match(str(value)):
                _deny(new, definition, 'the field ".spec.rebalanceStrategy.%s" must be float64' % field)
    elif old.get("spec") != new.get("spec"):
        _deny(new, definition, "the Rebalance spec don't allow update")


ALL = (rebalance_validator,)
