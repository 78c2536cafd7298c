"""Helpers of the Kilda integration tests: labctl, running modules and playbooks through real
Ansible, and reading the ensemble directly with kazoo."""
import json
import os
import subprocess
import sys
import tempfile

import module_runner  # pylint: disable=import-error
from kazoo.client import KazooClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LABCTL = os.path.join(ROOT, "tests", "labs", "labctl")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
BIN = os.path.dirname(sys.executable)
TOPOLOGIES = ("network", "flowhs", "flowmonitoring", "stats", "isllatency", "opentsdb", "portstate", "nbworker",
              "ping", "reroute", "swmanager", "floodlightrouter", "connecteddevices", "server42-control", "history")


def labctl(*args, timeout=180):
    proc = subprocess.run([sys.executable, LABCTL] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError("labctl %s failed:\n%s\n%s" % (" ".join(map(str, args)), proc.stdout, proc.stderr))
    return json.loads(proc.stdout) if proc.stdout.strip() else None


class Lab:
    def __init__(self, name, *args):
        self.workdir = tempfile.mkdtemp(prefix="zdt-%s-" % name)
        self.description = labctl("up", name, *args, "--workdir", self.workdir)

    def fault(self, action, target):
        return labctl("fault", action, target, "--workdir", self.workdir)

    def status(self):
        self.description = labctl("status", "--workdir", self.workdir)
        return self.description

    def down(self):
        labctl("down", "--workdir", self.workdir)


def ansible_env():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="results_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", PATH=BIN + os.pathsep + env.get("PATH", ""))
    return env


def module(name, args, check=False, diff=False, timeout=120):
    """Run zerodowntime.cluster.<name> on localhost (on its own, as on a target: module_runner); return
    its result."""
    return module_runner.run(name, args, check=check, diff=diff, env=ansible_env(), timeout=timeout)


def playbook_argv(path, extra_vars, check=False):
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path,
            "-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    return argv


def playbook(path, extra_vars, check=False, timeout=240):
    """Run a playbook; return (rc, parsed json callback output)."""
    proc = subprocess.run(playbook_argv(path, extra_vars, check), capture_output=True, text=True,
                          env=ansible_env(), timeout=timeout, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("ansible-playbook printed no JSON (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc.returncode, out


def failures(out):
    """(task name, msg) of every failed task in a json-callback run."""
    found = []
    for play in out.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("failed") and not res.get("ignore_errors"):
                    found.append((task["task"]["name"], res.get("msg")))
    return found


def zk_client(hosts):
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=20)
    return client


def values(client, prefix, component, env):
    out = {}
    for child in ("signal", "state", "expected_state", "build-version"):
        path = "%s/%s/%s/%s" % (prefix, component, env, child)
        if client.exists(path):
            out[child] = client.get(path)[0].decode()
        else:
            out[child] = None
    return out


def targets(env, components=TOPOLOGIES):
    return [{"component": c, "env": env} for c in components]


def tree(client, path):
    """{path: (value, mzxid)} of every znode under path: a change anywhere shows as a new mzxid."""
    out = {}
    pending = [path]
    while pending:
        node = pending.pop()
        data, stat = client.get(node)
        out[node] = (data.decode("utf-8", "replace"), stat.mzxid)
        pending.extend("%s/%s" % (node, child) for child in client.get_children(node))
    return out


def messages(out):
    """Every ``msg`` a json-callback run printed (debug output and failures), one string each."""
    found = []
    for play in out.get("plays", []):
        for task in play.get("tasks", []):
            for res in task.get("hosts", {}).values():
                msg = res.get("msg")
                if msg:
                    found.append("\n".join(msg) if isinstance(msg, list) else str(msg))
    return found
