"""Run the real kubectl against a k8s lab (through the kubeconfig the lab wrote)."""
import os
import subprocess


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
