"""Run one of the collection's modules as Ansible runs it on a target: in a Python process of its
own, its arguments (with Ansible's internal ones for check and diff mode) read from a file, its
result printed as JSON.

The integration tests call modules some three hundred times. Through `ansible localhost -m`,
each call first spends about a second of CPU starting Ansible on the controller, several times
what the module itself costs; that was a fifth of the suite's CPU. A module that has an action
plugin (a controller side: emqx_drain_wait, emqx_operator_update, role_inputs_check) cannot run
this way: ``run`` takes those through `ansible localhost -m`, and reads both kinds of result alike.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
PACKAGE = "ansible_collections.zerodowntime.cluster.plugins.modules."
ANSIBLE_ENV = {"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}


def has_action(name):
    """Whether the module ``name`` has an action plugin, which only Ansible's controller runs."""
    return os.path.exists(os.path.join(ROOT, "plugins", "action", name + ".py"))


def run(name, args, check=False, diff=False, env=None, timeout=240):
    """The result of module ``name`` run with ``args``; ``result["failed"]`` says whether it failed.
    As Ansible's controller does, a result without ``changed`` gets ``changed: false``."""
    through_ansible = has_action(name)
    full_env = dict(os.environ, **(ANSIBLE_ENV if through_ansible else {}))
    full_env.update(env or {})
    if through_ansible:
        proc, result = _through_ansible(name, args, check, diff, full_env, timeout)
    else:
        proc, result = _on_its_own(name, args, check, diff, full_env, timeout)
    result.setdefault("changed", False)
    result["failed"] = bool(result.get("failed")) or proc.returncode != 0
    return result


def _on_its_own(name, args, check, diff, env, timeout):
    internal = {"_ansible_check_mode": bool(check), "_ansible_diff": bool(diff)}
    with tempfile.NamedTemporaryFile("w", prefix="zdt-module-args-", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, **internal)}, handle)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (COLLECTIONS, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run([sys.executable, "-m", PACKAGE + name, handle.name], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=timeout, check=False)
    finally:
        os.unlink(handle.name)
    return proc, _json_from(proc, proc.stdout.find("{"), name)


def _through_ansible(name, args, check, diff, env, timeout):
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m", "zerodowntime.cluster." + name,
            "-a", json.dumps(args)] + (["--check"] if check else []) + (["--diff"] if diff else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    # the minimal callback prints "localhost | SUCCESS => {...}" or "localhost | FAILED! => {...}"
    marker = proc.stdout.find("=> ")
    result = _json_from(proc, marker + 3 if marker >= 0 else -1, name)
    if "FAILED!" in proc.stdout[:marker]:
        result["failed"] = True
    return proc, result


def _json_from(proc, start, name):
    try:
        if start < 0:
            raise ValueError("no result")
        return json.loads(proc.stdout[start:])
    except ValueError:
        raise AssertionError("module %s printed no result (exit status %s):\n%s\n%s"
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
