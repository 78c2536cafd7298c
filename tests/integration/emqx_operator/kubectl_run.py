"""Run the real kubectl against a k8s lab (through the kubeconfig the lab wrote)."""
import json
import os
import subprocess
import time

# labctl up k8s arguments for a test that reads the EMQX resource's status while it is Ready and cannot
# wait out the operator's 30 s between passes over a Ready resource (the lab's default, as upstream):
# a pass a second after the last one keeps node counts and evacuations fresh.
FRESH_STATUS = ("--operator-ready-requeue", "1")


def kubectl_result(lab, *args, stdin=None):
    """(returncode, stdout, stderr) of ``kubectl ARGS``."""
    env = dict(os.environ, KUBECONFIG=lab.description["kubeconfig"])
    proc = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    return proc.returncode, proc.stdout, proc.stderr


def kubectl(lab, *args, stdin=None):
    """stdout of ``kubectl ARGS``, which must succeed."""
    code, out, err = kubectl_result(lab, *args, stdin=stdin)
    assert code == 0, err
    return out


def emqx_status(lab):
    """Status of the lab's EMQX resource (empty until the operator wrote one)."""
    return json.loads(kubectl(lab, "get", "emqx", "emqx-ee", "-o", "json")).get("status") or {}


def follow_status(lab, done, timeout, what, point):
    """Poll the EMQX resource until ``done(status)``; return the last status and every distinct
    ``point(status)`` seen, in order (the timeout message shows them too)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = emqx_status(lab)
        current = point(status)
        if not seen or seen[-1] != current:
            seen.append(current)
        if done(status):
            return status, seen
        time.sleep(0.3)
    raise AssertionError("timed out after %ss waiting for %s; seen %s" % (timeout, what, seen))
