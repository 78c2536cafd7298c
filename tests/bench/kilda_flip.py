"""Benchmark: flip every Kilda component of a colour and confirm the state counters, with
kilda_zk_signal versus the seed document's zkCli.sh commands, in one run on the same lab.

    python tests/bench/kilda_flip.py

One flip = write the signal of 15 topologies + 2 Floodlights, then read until every state
settled (0 after SHUTDOWN, expected_state after START). Baselines, both with Debian's real
zkCli.sh and the seed's command sequence (one `set` per component, then `get .../state` per
component, repeated until settled):
  * per command: one `zkCli.sh -server HOSTS <command>` per line of the seed, as a script would run them;
  * one session: each round of the seed's commands piped into one zkCli.sh session (an operator
    pasting the block into an open CLI; faster than typing).
The module is measured as Ansible runs it (``ansible -m``) and as its module_utils run inside
that process (connect, one transaction, watch-driven wait), which is where the time goes that
does not belong to Ansible's own start-up. Prints ratios, never bare times alone.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LABCTL = os.path.join(ROOT, "tests", "labs", "labctl")
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, signal  # noqa: E402

TOPOLOGIES = ["floodlightrouter", "network", "flowhs", "flowmonitoring", "reroute", "connecteddevices", "swmanager",
              "isllatency", "nbworker", "opentsdb", "ping", "portstate", "stats", "server42-control", "history"]
TARGETS = [{"component": t, "env": "blue"} for t in TOPOLOGIES] + [{"component": "floodlight", "env": r} for r in "12"]
PATHS = ["/kilda/%s/%s" % (t["component"], t["env"]) for t in TARGETS]
MAX_POLLS = 60


def labctl(*args):
    out = subprocess.run([sys.executable, LABCTL] + list(args), capture_output=True, text=True, timeout=180, check=False)
    if out.returncode:
        raise SystemExit("labctl %s failed: %s" % (" ".join(args), out.stderr))
    return json.loads(out.stdout) if out.stdout.strip() else None


def settled(values, flip, expected):
    if flip == "SHUTDOWN":
        return all(v in ("0", "") for v in values)
    return all(v == e for v, e in zip(values, expected))


def zkcli(hosts, commands):
    """Run commands in one zkCli.sh session; return the data lines of its `get`s in order."""
    script = "".join("%s\n" % c for c in commands) + "quit\n"
    proc = subprocess.run([ZKCLI, "-server", hosts], input=script, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    lines = proc.stdout.splitlines()
    return [lines[i - 1] for i, line in enumerate(lines) if line.startswith("cZxid = ")]


def baseline_per_command(hosts, flip, expected):
    for path in PATHS:
        zkcli(hosts, ["set %s/signal %s" % (path, flip)])
    for dummy in range(MAX_POLLS):
        values = [zkcli(hosts, ["get -s %s/state" % path])[0] for path in PATHS]
        if settled(values, flip, expected):
            return
    raise SystemExit("baseline never saw the flip settle")


def baseline_session(hosts, flip, expected):
    zkcli(hosts, ["set %s/signal %s" % (p, flip) for p in PATHS])
    for dummy in range(MAX_POLLS):
        if settled(zkcli(hosts, ["get -s %s/state" % p for p in PATHS]), flip, expected):
            return
    raise SystemExit("baseline never saw the flip settle")


def module_utils_flip(hosts, flip, expected):
    params = dict(hosts=hosts, prefix="/kilda", targets=TARGETS, signal=flip, build_version=None, create_missing=False,
                  wait=True, wait_timeout=60, poll_interval=2.0, connect_timeout=10, session_timeout=10)
    client = connection.connect(params)
    try:
        signal.run(client, params, check_mode=False)
    finally:
        connection.close(client)


def ansible_flip(hosts, flip, expected):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="False")
    args = json.dumps(dict(hosts=hosts, targets=TARGETS, signal=flip, wait_timeout=60, poll_interval=2.0))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-m", "zerodowntime.cluster.kilda_zk_signal", "-a", args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    if proc.returncode:
        raise SystemExit("ansible failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))


def measure(name, fn, hosts, expected, rounds):
    """Median seconds of one flip (both directions are measured, alternating)."""
    times = []
    for i in range(rounds):
        for flip in ("SHUTDOWN", "START"):
            start = time.monotonic()
            fn(hosts, flip, expected)
            times.append(time.monotonic() - start)
    median = statistics.median(times)
    print("  %-34s %2d flips, median %6.3f s" % (name, len(times), median), flush=True)
    return median


def main():
    base = tempfile.mkdtemp(prefix="zdt-bench-kilda-")
    zk_dir, kilda_dir = os.path.join(base, "zk"), os.path.join(base, "kilda")
    zk = labctl("up", "zookeeper", "--servers", "3", "--workdir", zk_dir)
    hosts = zk["hosts"]
    try:
        labctl("up", "kilda", "--env", "blue", "--zk", hosts, "--regions", "1,2", "--bootstrap", "--drain-ms", "20",
               "--workdir", kilda_dir)
        expected = zkcli(hosts, ["get -s %s/expected_state" % p for p in PATHS])
        print("flip + confirm of %d components on a 3-server ZooKeeper ensemble:" % len(PATHS), flush=True)
        core = measure("kilda_zk_signal (module_utils)", module_utils_flip, hosts, expected, 3)
        module = measure("kilda_zk_signal (ansible -m)", ansible_flip, hosts, expected, 1)
        session = measure("seed, one zkCli.sh session/round", baseline_session, hosts, expected, 1)
        per_command = measure("seed, one zkCli.sh per command", baseline_per_command, hosts, expected, 1)
        print("ratios (baseline / module):")
        for label, baseline in (("per command", per_command), ("one session", session)):
            print("  seed %-12s vs module_utils: %6.1fx   vs ansible -m: %6.1fx"
                  % (label, baseline / core, baseline / module))
        print("target: >= 20x for the module against the seed's commands")
    finally:
        for workdir in (kilda_dir, zk_dir):
            if os.path.exists(os.path.join(workdir, "lab.json")):
                labctl("down", "--workdir", workdir)


if __name__ == "__main__":
    main()
