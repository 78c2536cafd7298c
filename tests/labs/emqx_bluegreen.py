"""Glue between the EMQX lab and the emqx_blue_green playbooks: an inventory and extra vars built
from labctl's JSON, and a runner for ansible-playbook. Used by the demo, the integration tests,
the benchmark and Molecule."""
import json
import os
import subprocess
import sys

LABS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(LABS))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def inventory(description):
    """Inventory groups emqx_blue / emqx_green with each node's name, API URL and HAProxy server."""
    servers = {node: server for server, node in description["lb"]["servers"].items()}
    groups = {"emqx_blue": {"hosts": {}}, "emqx_green": {"hosts": {}}}
    for node in description["nodes"]:
        groups["emqx_%s" % node["colour"]]["hosts"][node["member"]] = {
            "emqx_node_name": node["name"],
            "emqx_api_url": node["api_url"],
            "emqx_lb_server": servers[node["name"]],
        }
    return {"all": {"children": groups}}


def extra_vars(description, report_dir, **overrides):
    creds = description["credentials"]
    values = {
        "emqx_blue_green_api_key": creds["api_key"],
        "emqx_blue_green_api_secret": creds["api_secret"],
        "emqx_blue_green_haproxy_socket": description["lb"]["runtime_socket"],
        "emqx_blue_green_haproxy_sockets": [lb["runtime_socket"] for lb in description.get("load_balancers", [])[1:]],
        "emqx_blue_green_haproxy_backend": description["lb"]["backend"],
        "emqx_blue_green_mqtt_host": description["lb"]["mqtt_host"],
        "emqx_blue_green_mqtt_port": description["lb"]["mqtt_port"],
        "emqx_blue_green_deploy_green_tasks": os.path.join(LABS, "hooks", "emqx_start_nodes.yml"),
        "emqx_blue_green_remove_blue_tasks": os.path.join(LABS, "hooks", "emqx_stop_nodes.yml"),
        "emqx_blue_green_remove_green_tasks": os.path.join(LABS, "hooks", "emqx_stop_nodes.yml"),
        "emqx_lab_labctl": os.path.join(LABS, "labctl"),
        "emqx_lab_workdir": description["workdir"],
        "emqx_blue_green_report_dir": report_dir,
        "emqx_blue_green_wait_health_check": 3,
        "emqx_blue_green_wait_takeover": 3,
        "emqx_blue_green_soak_seconds": 6,
        "emqx_blue_green_probe_interval": 2,
        "emqx_blue_green_poll_interval": 1,
    }
    green = sorted({n["version"] for n in description["nodes"] if n["colour"] == "green"})
    if len(green) == 1:
        values["emqx_blue_green_green_version"] = green[0]
    values.update(overrides)
    return values


def write_inputs(description, workdir, report_dir, **overrides):
    """Write inventory.json and vars.json into ``workdir``; return their paths."""
    inv = os.path.join(workdir, "inventory.json")
    evars = os.path.join(workdir, "vars.json")
    with open(inv, "w") as handle:
        json.dump(inventory(description), handle, indent=2)
    with open(evars, "w") as handle:
        json.dump(extra_vars(description, report_dir, **overrides), handle, indent=2)
    return inv, evars


def wait_for_clients(description, clients, timeout=60.0):
    """Wait until the cluster's own /nodes counts every client: the lab refreshes a node's view of
    its peers about once a second, and a plan made from a stale count under-predicts the drain."""
    import time

    import httpx

    creds = description["credentials"]
    url = [n for n in description["nodes"] if n["status"] == "running"][0]["api_url"] + "/api/v5/nodes"
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        nodes = httpx.get(url, auth=(creds["api_key"], creds["api_secret"]), timeout=5).json()
        total = sum(n.get("live_connections") or 0 for n in nodes if n.get("node_status") == "running")
        if total >= clients:
            return total
        time.sleep(0.5)
    raise TimeoutError("the cluster counts %d of %d clients after %.0fs" % (total, clients, timeout))


def playbook(name, inventory_path, vars_path, timeout=900, extra_args=(), capture=True, cwd=None):
    """Run playbooks/<name> (or the playbook at an absolute path) with the collection from this
    checkout, from directory ``cwd`` (default: this one); return CompletedProcess."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory_path,
            "-e", "@" + vars_path, os.path.join(ROOT, "playbooks", name)] + list(extra_args)
    return subprocess.run(argv, env=env, timeout=timeout, text=True, check=False, cwd=cwd,
                          stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None)
