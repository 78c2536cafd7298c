"""Built-in kinds the lab serves besides CRDs: ``apps/v1`` Deployments, read-only, holding the
EMQX Operator's own Deployment so that preflight checks can find the operator and its version
the way they would on a cluster (``kubectl get deploy -A -l control-plane=controller-manager``)."""
from k8s_lab import tables

OPERATOR_NAMESPACE = "emqx-operator-system"
OPERATOR_NAME = "emqx-operator-controller-manager"
OPERATOR_IMAGE = "emqx/emqx-operator-controller"
DEFAULT_OPERATOR_VERSION = "2.2.29"
READ_ONLY_VERBS = ["get", "list", "watch"]


def _deployment_cells(obj):
    """READY UP-TO-DATE AVAILABLE, as kubectl prints Deployments."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return ["%d/%d" % (status.get("readyReplicas") or 0, spec.get("replicas") or 0),
            status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0]


DEPLOYMENT_COLUMNS = [
    {"name": "Ready", "type": "string", "description": "Ready pods out of the desired replicas"},
    {"name": "Up-to-date", "type": "integer", "description": "Pods that have the desired template"},
    {"name": "Available", "type": "integer", "description": "Pods ready for at least minReadySeconds"},
]


def deployment_definition(definition_class):
    return definition_class(
        "apps", "deployments", "deployment", "Deployment", True,
        {"v1": {"status": True, "schema": {}, "storage": True, "read_only": True,
                "columns": DEPLOYMENT_COLUMNS + [tables.AGE_COLUMN], "cells": _deployment_cells}},
        short_names=("deploy",), categories=("all",))


def operator_deployment(version=DEFAULT_OPERATOR_VERSION):
    """The Deployment the operator's Helm chart installs, as it looks once its pod is ready."""
    labels = {"control-plane": "controller-manager", "app.kubernetes.io/name": "emqx-operator",
              "app.kubernetes.io/instance": "emqx-operator", "app.kubernetes.io/version": version}
    selector = {"control-plane": "controller-manager", "app.kubernetes.io/name": "emqx-operator"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": OPERATOR_NAME, "namespace": OPERATOR_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"serviceAccountName": "emqx-operator-controller-manager", "containers": [{
                    "name": "manager", "image": "%s:%s" % (OPERATOR_IMAGE, version),
                    "args": ["--leader-elect"], "command": ["/manager"],
                    "ports": [{"containerPort": 9443, "name": "webhook-server", "protocol": "TCP"}],
                }]},
            },
        },
        "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                   "observedGeneration": 1,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability."},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "message": "ReplicaSet has successfully progressed."}]},
    }
