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
The module is measured three ways:
  * as a task of a running playbook, which is how the role flips colours: the task's wall time as
    the playbook sees it (worker start, module transfer, Python start-up, connect, one
    transaction, watch-driven wait), bracketed by two timestamps taken on the controller;
  * as a one-off ``ansible -m`` command, which adds Ansible's own start-up (about 0.8 s here);
  * as its module_utils inside this process, the module's own work without Ansible.
Prints ratios, never bare times alone.
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


def ansible_env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
                ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="False")


def ansible_flip(hosts, flip, expected):
    env = ansible_env()
    args = json.dumps(dict(hosts=hosts, targets=TARGETS, signal=flip, wait_timeout=60, poll_interval=2.0))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-m", "zerodowntime.cluster.kilda_zk_signal", "-a", args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    if proc.returncode:
        raise SystemExit("ansible failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))


FLIP_TASKS = """
- name: Timestamp before the flip
  ansible.builtin.set_fact:
    flip_started: "{{ now(fmt='%s.%f') }}"
- name: Flip every component
  zerodowntime.cluster.kilda_zk_signal:
    hosts: "{{ zk_hosts }}"
    targets: "{{ flip_targets }}"
    signal: "{{ flip }}"
    wait_timeout: 60
    poll_interval: 2.0
- name: Record the task's wall time
  ansible.builtin.set_fact:
    flip_times: "{{ flip_times + [(now(fmt='%s.%f') | float) - (flip_started | float)] }}"
"""

PLAYBOOK = """
- name: Flip the colour back and forth as the role does
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    flip_times: []
  tasks:
    - name: One flip per item
      ansible.builtin.include_tasks: flip.yml
      loop: "{{ flips }}"
      loop_control:
        loop_var: flip
    - name: Hand the times to the benchmark
      ansible.builtin.copy:
        content: "{{ flip_times | to_json }}"
        dest: "{{ times_file }}"
        mode: "0600"
"""


def playbook_flips(hosts, rounds):
    """Seconds per flip as tasks of one ansible-playbook run (SHUTDOWN and START alternating)."""
    with tempfile.TemporaryDirectory(prefix="zdt-bench-play-") as tmp:
        for name, text in (("flip.yml", FLIP_TASKS), ("site.yml", PLAYBOOK)):
            with open(os.path.join(tmp, name), "w") as handle:
                handle.write(text)
        times_file = os.path.join(tmp, "times.json")
        extra = dict(zk_hosts=hosts, flip_targets=TARGETS, flips=["SHUTDOWN", "START"] * rounds, times_file=times_file)
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                               os.path.join(tmp, "site.yml"), "-e", json.dumps(extra)],
                              capture_output=True, text=True, env=ansible_env(), timeout=300, check=False)
        if proc.returncode:
            raise SystemExit("ansible-playbook failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
        with open(times_file) as handle:
            return json.load(handle)


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
        times = playbook_flips(hosts, 3)
        task = statistics.median(times)
        print("  %-34s %2d flips, median %6.3f s" % ("kilda_zk_signal (playbook task)", len(times), task), flush=True)
        module = measure("kilda_zk_signal (ansible -m)", ansible_flip, hosts, expected, 1)
        session = measure("seed, one zkCli.sh session/round", baseline_session, hosts, expected, 1)
        per_command = measure("seed, one zkCli.sh per command", baseline_per_command, hosts, expected, 1)
        print("ratios (baseline / module):")
        for label, baseline in (("per command", per_command), ("one session", session)):
            print("  seed %-12s vs playbook task: %6.1fx   vs ansible -m: %6.1fx   vs module_utils: %6.1fx"
                  % (label, baseline / task, baseline / module, baseline / core))
        print("target: >= 20x for the module against the seed's commands (one zkCli.sh per command)")
    finally:
        for workdir in (kilda_dir, zk_dir):
            if os.path.exists(os.path.join(workdir, "lab.json")):
                labctl("down", "--workdir", workdir)


if __name__ == "__main__":
    main()
