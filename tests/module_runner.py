"""Run one of the collection's modules as Ansible runs it on a target: in a Python process of its
own, its arguments (with Ansible's internal ones for check and diff mode) read from a file, its
result printed as JSON.

The integration tests call modules some three hundred times. Through `ansible localhost -m`,
each call first spends about a second of CPU starting Ansible on the controller, several times
what the module itself costs; that was a fifth of the suite's CPU. A module that has an action
plugin (a controller side: emqx_drain_wait, emqx_operator_update, role_inputs_check) cannot run
this way, so ``has_action`` tells the helpers to run those through `ansible` as before.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
PACKAGE = "ansible_collections.zerodowntime.cluster.plugins.modules."


def has_action(name):
    """Whether the module ``name`` has an action plugin, which only Ansible's controller runs."""
    return os.path.exists(os.path.join(ROOT, "plugins", "action", name + ".py"))


def run(name, args, check=False, diff=False, env=None, timeout=240):
    """The result of module ``name`` run with ``args``; ``result["failed"]`` says whether it failed.
    As Ansible's controller does, a result without ``changed`` gets ``changed: false``."""
    if has_action(name):
        raise ValueError("%s has an action plugin: run it through ansible" % name)
    internal = {"_ansible_check_mode": bool(check), "_ansible_diff": bool(diff)}
    with tempfile.NamedTemporaryFile("w", prefix="zdt-module-args-", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, **internal)}, handle)
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (COLLECTIONS, full_env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run([sys.executable, "-m", PACKAGE + name, handle.name], capture_output=True, text=True,
                              env=full_env, cwd=ROOT, timeout=timeout, check=False)
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("module %s printed no result (exit status %s):\n%s\n%s"
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    result.setdefault("changed", False)
    result["failed"] = bool(result.get("failed")) or proc.returncode != 0
    return result
