"""The EMQX Operator's CRDs as the lab installs them (op-2.2 / 2.2.29 field names, defaults and
printer columns); ``for_operator`` gives those of another operator version: from 2.3 on, the
EMQX CRD also has ``updateStrategy.evacuationStrategy.waitHealthCheck``.

The top level of ``EMQX.spec`` and the whole ``Rebalance.spec`` list the operator's fields, so
an unknown or misspelt field is pruned (or refused with ``fieldValidation=Strict``, what
``kubectl apply`` sends) as a real API server does; the big nested templates (pod templates,
service templates, EMQX config) are kept as sent. Printer columns are the operator's own:
``kubectl get emqx`` shows the first condition whose status is True, ``kubectl get rebalances``
the phase."""
import re

GROUP = "apps.emqx.io"
# the first operator line whose EMQX CRD has evacuationStrategy.waitHealthCheck (reference 5.2)
WAIT_HEALTH_CHECK_SINCE = (2, 3)

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _int(default=None, minimum=None):
    out = {"type": "integer", "format": "int32"}
    if default is not None:
        out["default"] = default
    if minimum is not None:
        out["minimum"] = minimum
    return out


def has_wait_health_check(operator_version):
    """Whether operator ``operator_version`` ("2.2.29", "2.3.0-rc.1") knows waitHealthCheck: 2.2
    never sends it, so EMQX's own 60 s applies to every evacuated node (pitfall 19)."""
    match = re.match(r"v?(\d+)\.(\d+)", str(operator_version or ""))
    return bool(match) and (int(match.group(1)), int(match.group(2))) >= WAIT_HEALTH_CHECK_SINCE


def _update_strategy(wait_health_check):
    evacuation = {"waitTakeover": _int(10, 0), "connEvictRate": _int(1000, 1), "sessEvictRate": _int(1000, 1)}
    if wait_health_check:
        evacuation["waitHealthCheck"] = _int(None, 0)
    return {
        "type": "object",
        "default": {"type": "Recreate", "initialDelaySeconds": 10,
                    "evacuationStrategy": {"waitTakeover": 10, "connEvictRate": 1000, "sessEvictRate": 1000}},
        "properties": {
            "type": {"type": "string", "enum": ["Recreate"], "default": "Recreate"},
            "initialDelaySeconds": _int(10),
            "evacuationStrategy": {"type": "object", "properties": evacuation},
        },
    }


_TEMPLATE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
             "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                     "properties": {"replicas": _int()}}}}
_OPAQUE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_OPAQUE_LIST = {"type": "array", "items": _OPAQUE}
# every CRD root schema declares these (controller-gen writes them)
_ROOT = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def emqx_crd(wait_health_check=False):
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "emqxes.%s" % GROUP},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "emqxes", "singular": "emqx", "kind": "EMQX", "listKind": "EMQXList", "shortNames": ["emqx"]},
            "versions": [{
                "name": "v2beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Status", "type": "string", "jsonPath": '.status.conditions[?(@.status=="True")].type'},
                    _AGE,
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": dict(_ROOT, **{
                        "spec": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {
                                "image": {"type": "string"},
                                "imagePullPolicy": {"type": "string"},
                                "imagePullSecrets": _OPAQUE_LIST,
                                "serviceAccountName": {"type": "string"},
                                "bootstrapAPIKeys": _OPAQUE_LIST,
                                "config": _OPAQUE,
                                "clusterDomain": {"type": "string", "default": "cluster.local"},
                                "revisionHistoryLimit": _int(3),
                                "updateStrategy": _update_strategy(wait_health_check),
                                "coreTemplate": _TEMPLATE,
                                "replicantTemplate": _TEMPLATE,
                                "dashboardServiceTemplate": _OPAQUE,
                                "listenersServiceTemplate": _OPAQUE,
                            },
                        },
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    }),
                }},
            }],
        },
    }


_REBALANCE_STRATEGY = {
    "type": "object",
    "required": ["connEvictRate"],
    "properties": {
        "connEvictRate": _int(minimum=1),
        "sessEvictRate": _int(500),
        "waitTakeover": _int(60),
        "waitHealthCheck": _int(60),
        "absConnThreshold": _int(1000),
        "relConnThreshold": {"type": "string", "default": "1.1"},
        "absSessThreshold": _int(1000),
        "relSessThreshold": {"type": "string", "default": "1.1"},
    },
}


def _rebalance_version(name, storage, with_kind):
    spec_props = {"instanceName": {"type": "string"}, "rebalanceStrategy": _REBALANCE_STRATEGY}
    required = ["instanceName", "rebalanceStrategy"]
    if with_kind:
        spec_props["instanceKind"] = {"type": "string", "default": "EMQX"}
        required.append("instanceKind")
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "deprecated": not storage,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}, _AGE],
        "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": dict(_ROOT, **{
                "spec": {"type": "object", "required": required, "properties": spec_props},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }),
        }},
    }


REBALANCE = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "rebalances.%s" % GROUP},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "rebalances", "singular": "rebalance", "kind": "Rebalance", "listKind": "RebalanceList"},
        "versions": [_rebalance_version("v2beta1", True, True), _rebalance_version("v1beta4", False, False)],
    },
}


def for_operator(operator_version):
    """The CRDs the operator's Helm chart of ``operator_version`` installs."""
    return (emqx_crd(has_wait_health_check(operator_version)), REBALANCE)


# what the default operator version (2.2.29) installs
EMQX = emqx_crd(wait_health_check=False)
ALL = (EMQX, REBALANCE)
