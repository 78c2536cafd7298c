"""Helpers for the Xenon integration tests: run the collection's modules and playbooks for real
(ansible subprocesses), seed and read the lab over HTTP."""
import json
import os
import subprocess
import sys
import tempfile

import httpx
import module_runner  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
BIN = os.path.dirname(sys.executable)


def ansible_env():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return env


def run_module(name, args, check=False, timeout=240):
    """Result dict of module zerodowntime.cluster.<name> run on its own, as on a target (module_runner;
    failed results included)."""
    return module_runner.run(name, args, check=check, env=ansible_env(), timeout=timeout)


def parse(stdout, stderr="", rc=None):
    """The result of an ad-hoc run: 'localhost | CHANGED => {...}'."""
    try:
        marker = stdout.index("=> ")
        result = json.loads(stdout[marker + 3:])
    except ValueError:
        raise AssertionError("ansible printed no result (rc %s):\n%s\n%s" % (rc, stdout, stderr))
    # the ad-hoc callback states failure in the header, not in the JSON
    result["failed"] = "FAILED!" in stdout[:marker]
    return result


def start_module(name, args):
    """The same, in the background: returns (Popen, output path)."""
    out = tempfile.NamedTemporaryFile(prefix="xenon-module-", suffix=".json", delete=False)
    argv = [os.path.join(BIN, "ansible"), "localhost", "-m", "zerodowntime.cluster.%s" % name, "-a", json.dumps(args)]
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=ansible_env(), cwd=ROOT), out.name


def finish_module(proc, path, timeout=240):
    proc.wait(timeout)
    with open(path) as handle:
        return parse(handle.read(), rc=proc.returncode)


def _playbook_argv(playbook, extra_vars, extra_args=()):
    vars_file = tempfile.NamedTemporaryFile("w", prefix="xenon-vars-", suffix=".json", delete=False)
    json.dump(extra_vars, vars_file)
    vars_file.close()
    return [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook, "-e", "@" + vars_file.name] + list(extra_args)


def run_playbook(playbook, extra_vars, timeout=280, extra_args=()):
    return subprocess.run(_playbook_argv(playbook, extra_vars, extra_args), capture_output=True, text=True, timeout=timeout,
                          env=ansible_env(), cwd=ROOT, check=False)


def start_playbook(playbook, extra_vars):
    """The same, in the background: a Popen whose stdout (stderr folded in) is text."""
    return subprocess.Popen(_playbook_argv(playbook, extra_vars), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ansible_env(), cwd=ROOT)


def migration_args(lab, **extra):
    args = {"url": lab.description["green"]["nodes"][0]["url"],
            "source_node_group": lab.description["blue"]["node_group"],
            "destination_node_group": lab.description["green"]["node_group"],
            "factories": ["/core/examples"], "poll_interval": 0.1, "wait_timeout": 120}
    auth = lab.description.get("auth")
    if auth:
        args.update(username=auth["username"], password=auth["password"])
    args.update(extra)
    return args


def info_args(lab, **extra):
    args = migration_args(lab, **extra)
    for name in ("poll_interval", "wait_timeout", "wait", "continuous", "task_expiration"):
        args.pop(name, None)
    return args


def headers(url, lab):
    auth = lab.description.get("auth")
    if not auth:
        return {}
    response = httpx.post(url + "/core/authn/basic", json={"requestType": "LOGIN"},
                          auth=(auth["username"], auth["password"]), timeout=5)
    response.raise_for_status()
    return {"x-xenon-auth-token": response.headers["x-xenon-auth-token"]}


def seed(lab, count, prefix="seed"):
    """Create count documents on blue through the load balancer; return their selfLinks."""
    url = lab.description["load_balancer"]["url"]
    links = []
    with httpx.Client(timeout=30, headers=headers(url, lab)) as client:
        for i in range(count):
            response = client.post(url + "/core/examples", json={"name": "%s-%d" % (prefix, i), "counter": i})
            assert response.status_code == 200, response.text
            links.append(response.json()["documentSelfLink"])
    return links


def documents(lab, colour):
    """Every document of /core/examples on a group (from its first node's index)."""
    url = lab.description[colour]["nodes"][0]["url"]
    response = httpx.get(url + "/core/examples?expand", headers=headers(url, lab), timeout=30)
    response.raise_for_status()
    return response.json().get("documents") or {}
