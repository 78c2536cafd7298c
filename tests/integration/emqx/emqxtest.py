"""Helpers for the EMQX integration tests: real MQTT load through the lab's HAProxy, and the
collection's modules run against the lab (each on its own as on a target, or through the real
`ansible` CLI when it has an action plugin). A module of its own rather than conftest.py: the Kilda
tests have a conftest too, and one pytest run may collect both."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
LABS = os.path.join(ROOT, "tests", "labs")
sys.path.insert(0, LABS)

# the tests import emqx_bluegreen from here
import emqx_bluegreen  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import module_runner  # noqa: E402  pylint: disable=wrong-import-position,import-error
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.info import ClusterInfo  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS  # noqa: E402


@contextlib.contextmanager
def mqtt_load(description, clients=100, rate=40, ready_timeout=90, keepalive=30):
    """Real paho clients through HAProxy for the duration of the block; yields a dict that is
    filled with the load generator's report when the block ends."""
    workdir = tempfile.mkdtemp(prefix="zdt-load-")
    ready = os.path.join(workdir, "ready")
    out = os.path.join(workdir, "load.json")
    argv = [sys.executable, "-m", "emqx_lab.load", "--host", description["lb"]["mqtt_host"],
            "--port", str(description["lb"]["mqtt_port"]), "--clients", str(clients), "--rate", str(rate),
            "--max-runtime", "600", "--keepalive", str(keepalive), "--out", out, "--ready-file", ready]
    with open(os.path.join(workdir, "load.log"), "w") as log:
        proc = subprocess.Popen(argv, cwd=LABS, stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    report = {}
    try:
        deadline = time.monotonic() + ready_timeout
        while not os.path.exists(ready):
            assert proc.poll() is None, "load generator died (see %s)" % log.name
            assert time.monotonic() < deadline, "clients not subscribed within %ss" % ready_timeout
            time.sleep(0.2)
        yield report
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        if os.path.exists(out):
            with open(out) as handle:
                report.update(json.load(handle))


def run_module(name, args, check=False):
    """Run zerodowntime.cluster.<name> with ``args`` (module_runner); return (rc, result), rc 0 unless it failed."""
    result = module_runner.run(name, args, check=check, timeout=600)
    return (2 if result["failed"] else 0), result


def connection(description, node_index=0, api="v5"):
    creds = description["credentials"]
    node = description["nodes"][node_index]
    if api == "v4":
        return {"api_url": node["api_v4_url"], "app_id": creds["app_id"], "app_secret": creds["app_secret"]}
    return {"api_url": node["api_url"], "api_key": creds["api_key"], "api_secret": creds["api_secret"]}


def cluster(description):
    """The cluster as emqx_cluster_info sees it through whichever node answers (some are stopped by
    then). The module's own code, run in this process: the tests look at the cluster dozens of
    times, and each look through `ansible` would cost a second of CPU starting Ansible."""
    for node in description["nodes"]:
        params = {name: spec.get("default") for name, spec in CONNECTION_ARGS.items()}
        params.update(api_url=node["api_url"], api_key=description["credentials"]["api_key"],
                      api_secret=description["credentials"]["api_secret"], node_api_urls=None)
        try:
            with EmqxClient(params) as client:
                return ClusterInfo(client, params).run()
        except ApiError:
            continue
    raise AssertionError("no node of the lab answers")


def node_names(description, colour=None):
    return [n["name"] for n in description["nodes"] if colour is None or n["colour"] == colour]
