"""Scripted operator reactions for module tests: writes what the EMQX Operator's Rebalance
controller writes (finalizer, phase, rebalanceStates) through the real API, on a thread."""
import threading
import time

from kubernetes import config, dynamic

MERGE = "application/merge-patch+json"


def rebalances(kubeconfig):
    api = dynamic.DynamicClient(config.new_client_from_config(kubeconfig))
    return api.resources.get(api_version="apps.emqx.io/v2beta1", kind="Rebalance")


class Script(threading.Thread):
    """Wait for Rebalance ``name`` to appear, then apply ``steps`` (status dicts, or callables) ``pause`` apart."""

    def __init__(self, kubeconfig, name, steps, pause=0.5, namespace="default", timeout=30.0):
        super().__init__(daemon=True)
        self.resource = rebalances(kubeconfig)
        self.name, self.steps, self.pause, self.namespace, self.timeout = name, steps, pause, namespace, timeout
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                found = [o for o in self.resource.get(namespace=self.namespace).items if o.metadata.name == self.name]
                if found and not found[0].metadata.deletionTimestamp:
                    break
                time.sleep(0.1)
            else:
                raise TimeoutError("Rebalance %s never appeared" % self.name)
            for step in self.steps:
                time.sleep(self.pause)
                if callable(step):
                    step(self.resource)
                else:
                    self.resource.status.patch(name=self.name, namespace=self.namespace, body={"status": step},
                                               content_type=MERGE)
        except Exception as exc:  # surfaced by the test through .error
            self.error = exc


class Finalizer(threading.Thread):
    """Hold the operator's finalizer for ``hold`` seconds after deletion was requested, then remove it."""

    def __init__(self, kubeconfig, name, hold=1.0, namespace="default", timeout=30.0):
        super().__init__(daemon=True)
        self.resource = rebalances(kubeconfig)
        self.name, self.hold, self.namespace, self.timeout = name, hold, namespace, timeout
        self.error = None
        self.released = False

    def run(self):
        try:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                obj = self.resource.get(name=self.name, namespace=self.namespace)
                if obj.metadata.deletionTimestamp:
                    break
                time.sleep(0.05)
            else:
                raise TimeoutError("Rebalance %s was never deleted" % self.name)
            time.sleep(self.hold)
            self.resource.patch(name=self.name, namespace=self.namespace, body={"metadata": {"finalizers": None}},
                                content_type=MERGE)
            self.released = True
        except Exception as exc:  # surfaced by the test through .error
            self.error = exc


def processing(state, donors, recipients):
    return {"phase": "Processing", "rebalanceStates": [{"state": state, "donors": donors, "recipients": recipients,
                                                        "node": donors[0], "coordinator_node": donors[0],
                                                        "connection_eviction_rate": 10, "session_eviction_rate": 10}]}


COMPLETED = {"phase": "Completed", "rebalanceStates": None,
             "conditions": [{"type": "Completed", "status": "True", "reason": "", "message": ""}]}


def failed(message):
    return {"phase": "Failed", "conditions": [{"type": "Failed", "status": "True", "reason": "",
                                               "message": message}]}
