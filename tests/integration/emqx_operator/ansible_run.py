"""Run a module of the collection and read its JSON result."""
import json
import os
import subprocess
import sys

import module_runner  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def run_module(module, args, env=None, check=False, timeout=170):
    """(rc, result) of module zerodowntime.cluster.<module>, rc 0 unless it failed: through `ansible
    localhost -m` when it has an action plugin, on its own otherwise (module_runner)."""
    if not module_runner.has_action(module):
        result = module_runner.run(module, args, check=check, env=env, timeout=timeout)
        return (2 if result["failed"] else 0), result
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
                    ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_NOCOLOR="1")
    full_env.update(env or {})
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
            "zerodowntime.cluster." + module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, env=full_env, text=True, capture_output=True, timeout=timeout, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout[proc.stdout.index("=> ") + 3:])
    except ValueError:
        raise AssertionError("could not read the module result:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
