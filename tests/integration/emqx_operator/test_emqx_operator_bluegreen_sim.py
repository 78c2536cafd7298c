"""The operator simulator's blue-green update on the EMQX lab, driven with `kubectl` as in the
operator documentation. (The update under MQTT load with zero sessions lost is exercised through
emqx_operator_update in test_emqx_operator_update_module.py.)"""
import json
import shutil
import time

import pytest
from kubectl_run import emqx_status, follow_status, kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytest.importorskip("kubernetes")

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]


def emqx_cr(image, **strategy):
    evacuation = {"connEvictRate": 30, "sessEvictRate": 30, "waitTakeover": 1, "waitHealthCheck": 1}
    evacuation.update(strategy)
    return {"apiVersion": "apps.emqx.io/v2beta1", "kind": "EMQX", "metadata": {"name": "emqx-ee"},
            "spec": {"image": image, "updateStrategy": {"type": "Recreate", "initialDelaySeconds": 1,
                                                        "evacuationStrategy": evacuation}}}


def watch_until(lab, done, timeout, what):
    """Poll the resource, keeping every distinct (first condition, revisions, evacuation states) seen."""
    def point(status):
        revisions = status.get("coreNodesStatus") or {}
        return ((status.get("conditions") or [{}])[0].get("type"), revisions.get("currentRevision"),
                revisions.get("updateRevision"), tuple(e.get("state") for e in status.get("nodeEvacuationsStatus") or []))

    return follow_status(lab, done, timeout, what, point)


def ready_on(revision=None):
    def done(status):
        revisions = status.get("coreNodesStatus") or {}
        first = (status.get("conditions") or [{}])[0]
        return (first.get("type") == "Ready" and revisions.get("currentRevision") == revisions.get("updateRevision")
                and (revision is None or revisions.get("currentRevision") != revision))
    return done


@pytest.mark.slow
def test_bad_image_stalls_in_progress_and_rollback_recovers(lab_factory):
    lab = lab_factory("k8s", "--emqx-blue", 1, "--emqx-green", 1)
    kubectl(lab, "apply", "--validate=false", "-f", "-", stdin=json.dumps(emqx_cr("emqx/emqx-enterprise:5.8.6")))
    initial, _seen = watch_until(lab, ready_on(), 15, "the first Ready")
    kubectl(lab, "patch", "emqx", "emqx-ee", "--type", "merge", "-p", '{"spec":{"image":"emqx/emqx-enterprise:invalid"}}')
    stalled, _seen = watch_until(lab, lambda s: (s.get("conditions") or [{}])[0].get("type") == "CoreNodesProgressing",
                                 10, "the update to start")
    time.sleep(2)
    still = emqx_status(lab)
    assert still["conditions"][0]["type"] == "CoreNodesProgressing" and "0/1" in still["conditions"][0]["message"]
    assert not any(c["type"] == "Ready" for c in still["conditions"])
    assert still["coreNodesStatus"]["currentRevision"] == initial["coreNodesStatus"]["currentRevision"]
    assert still["coreNodesStatus"]["updateRevision"] != initial["coreNodesStatus"]["currentRevision"]
    # rolling the image back before the switch only reverts updateRevision (reference 5.4)
    kubectl(lab, "patch", "emqx", "emqx-ee", "--type", "merge", "-p", '{"spec":{"image":"emqx/emqx-enterprise:5.8.6"}}')
    back, _seen = watch_until(lab, ready_on(), 10, "Ready again after the rollback")
    assert back["coreNodesStatus"]["currentRevision"] == initial["coreNodesStatus"]["currentRevision"]
    assert stalled["coreNodesStatus"]["currentReplicas"] == 1
