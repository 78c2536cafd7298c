# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Which EMQX Operator is installed: the versions of its CRDs and the version of its controller,
read from the Deployment's image tag."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.connection import (
    ApiException,
    Urllib3Error,
    api_error,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.images import version_of_image
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.resources import (
    GROUP,
    KNOWN_VERSIONS,
    served_versions,
)

try:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
except ImportError:  # the module reports the missing library before anything here runs
    ResourceNotFoundError = None

CRDS = {"EMQX": "emqxes." + GROUP, "Rebalance": "rebalances." + GROUP}
# labels of the operator's Deployment in its Helm chart and kustomize manifests
OPERATOR_SELECTOR = "control-plane=controller-manager"
OPERATOR_NAMESPACE = "emqx-operator-system"
OPERATOR_NAME = "emqx-operator-controller-manager"


def crd_from_object(obj):
    versions = [{"name": v.get("name"), "served": bool(v.get("served")), "storage": bool(v.get("storage"))}
                for v in ((obj.get("spec") or {}).get("versions") or [])]
    return {"installed": True, "source": "crd", "versions": versions,
            "served": [v["name"] for v in versions if v["served"]],
            "storage": next((v["name"] for v in versions if v["storage"]), None)}


def crd_versions(client, kind):
    """The CRD of ``kind`` as installed. Without the right to read CRDs, API discovery still tells
    which versions are served (the storage version stays unknown)."""
    try:
        crds = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        return crd_from_object(crds.get(name=CRDS[kind]).to_dict())
    except ApiException as exc:
        if exc.status not in (403, 404):
            raise api_error(exc, "reading CustomResourceDefinition %s" % CRDS[kind])
    except ResourceNotFoundError:
        pass
    except Urllib3Error as exc:
        raise api_error(exc, "reading CustomResourceDefinition %s" % CRDS[kind])
    served = served_versions(client, kind)
    return {"installed": bool(served), "source": "discovery",
            "versions": [{"name": v, "served": True, "storage": None} for v in served],
            "served": served, "storage": None, "known": list(KNOWN_VERSIONS[kind])}


def is_operator(deployment):
    meta = deployment.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get("app.kubernetes.io/name") == "emqx-operator":
        return True
    return any("emqx-operator" in (c.get("image") or "") for c in _containers(deployment))


def _containers(deployment):
    return (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def operator_from_deployment(deployment, source):
    meta = deployment.get("metadata") or {}
    containers = _containers(deployment)
    manager = next((c for c in containers if c.get("name") == "manager"), None) or next(
        (c for c in containers if "emqx-operator" in (c.get("image") or "")), containers[0] if containers else {})
    image = manager.get("image")
    version = version_of_image(image) or (meta.get("labels") or {}).get("app.kubernetes.io/version")
    status = deployment.get("status") or {}
    return {"found": True, "source": source, "namespace": meta.get("namespace"), "name": meta.get("name"), "image": image,
            "version": version, "replicas": (deployment.get("spec") or {}).get("replicas"),
            "ready_replicas": status.get("readyReplicas") or 0}


def find_operator(client, namespace=None, name=None):
    """The operator's Deployment: by name when given, else by label across namespaces (then in
    ``namespace`` alone when listing every namespace is not allowed)."""
    try:
        deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    except ResourceNotFoundError:
        return {"found": False, "reason": "the cluster serves no apps/v1 Deployment"}
    except (ApiException, Urllib3Error) as exc:
        raise api_error(exc, "discovering apps/v1 Deployment")
    if name:
        where = "%s/%s" % (namespace or OPERATOR_NAMESPACE, name)
        try:
            return operator_from_deployment(deployments.get(name=name, namespace=namespace or OPERATOR_NAMESPACE).to_dict(),
                                            "named")
        except ApiException as exc:
            if exc.status in (403, 404):
                return {"found": False, "reason": "Deployment %s: %s %s" % (where, exc.status, exc.reason)}
            raise api_error(exc, "reading Deployment %s" % where)
        except Urllib3Error as exc:
            raise api_error(exc, "reading Deployment %s" % where)
    items, reason = None, None
    for scope in ([None] if not namespace else []) + [namespace or OPERATOR_NAMESPACE]:
        try:
            items = deployments.get(namespace=scope, label_selector=OPERATOR_SELECTOR).to_dict().get("items") or []
            break
        except ApiException as exc:
            if exc.status != 403:
                raise api_error(exc, "listing Deployments with %s" % OPERATOR_SELECTOR)
            reason = "listing Deployments %s is forbidden" % ("in every namespace" if scope is None else "in " + scope)
        except Urllib3Error as exc:
            raise api_error(exc, "listing Deployments with %s" % OPERATOR_SELECTOR)
    matches = [d for d in items or [] if is_operator(d)]
    if not matches:
        return {"found": False, "reason": reason or "no Deployment labelled %s runs an emqx-operator image" % OPERATOR_SELECTOR}
    out = operator_from_deployment(matches[0], "label")
    if len(matches) > 1:
        out["others"] = ["%s/%s" % (d["metadata"].get("namespace"), d["metadata"].get("name")) for d in matches[1:]]
    return out


def rebalances_of(client, namespace, instance=None):
    """Rebalance resources in ``namespace`` (for ``instance`` when given), newest served version."""
    served = served_versions(client, "Rebalance")
    if not served:
        return []
    resource = client.resources.get(api_version="%s/%s" % (GROUP, served[0]), kind="Rebalance")
    try:
        items = resource.get(namespace=namespace).to_dict().get("items") or []
    except (ApiException, Urllib3Error) as exc:
        raise api_error(exc, "listing Rebalances in %s" % namespace)
    out = []
    for item in items:
        spec = item.get("spec") or {}
        if instance and spec.get("instanceName") != instance:
            continue
        status = item.get("status") or {}
        out.append({"name": item["metadata"]["name"], "instance_name": spec.get("instanceName"), "phase": status.get("phase"),
                    "started_time": status.get("startedTime"), "completed_time": status.get("completedTime")})
    return out
