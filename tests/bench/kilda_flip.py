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
The module is measured four ways:
  * as the process Ansible starts on the host: the AnsiballZ file it ships (module, module_utils
    and arguments) run as Ansible runs it, Python start-up, imports, connect, one transaction,
    watch-driven wait and result included. This is the counterpart of a zkCli.sh process, and
    the ratio the target is checked against;
  * as a task of a running playbook, which is how the role flips colours: the task's wall time as
    Ansible runs it (worker start, module transfer, Python start-up, connect, one transaction,
    watch-driven wait), from the task's start to its result as a callback sees them;
  * as a one-off ``ansible -m`` command, which adds Ansible's own start-up (about 0.8 s here);
  * as its module_utils inside this process, the module's own work without Ansible.
Prints ratios, never bare times alone.
"""
import glob
import json
import os
import shutil
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


def ansible_flip(hosts, flip, expected, **env):
    args = json.dumps(dict(hosts=hosts, targets=TARGETS, signal=flip, wait_timeout=60, poll_interval=2.0))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-m", "zerodowntime.cluster.kilda_zk_signal", "-a", args],
                          capture_output=True, text=True, env=dict(ansible_env(), **env), timeout=120, check=False)
    if proc.returncode:
        raise SystemExit("ansible failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))


def shipped_module_flip(hosts, tmp):
    """A flip function that runs the very file Ansible ships to a host for each direction
    (AnsiballZ: the module, its module_utils and its arguments). Ansible is asked to keep them;
    producing them also flips once each way, which warms up like the other measurements."""
    shipped = {}
    for flip in ("SHUTDOWN", "START"):
        remote_tmp = os.path.join(tmp, flip)
        ansible_flip(hosts, flip, None, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=remote_tmp)
        shipped[flip] = glob.glob(os.path.join(remote_tmp, "*", "AnsiballZ_kilda_zk_signal.py"))[0]

    def run(hosts, flip, expected):
        proc = subprocess.run([sys.executable, shipped[flip]], capture_output=True, text=True, timeout=120,
                              check=False)
        result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
        if proc.returncode or result.get("failed") or not result.get("changed"):
            raise SystemExit("module failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))

    return run


TASK_TIMER = """
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    \"\"\"Wall time of every flip task, from the moment Ansible starts it to its result.\"\"\"
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "flip_timer"

    def __init__(self):
        super().__init__()
        self.started = None
        self.times = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.started = time.monotonic()

    def v2_runner_on_ok(self, result):
        if result._task.get_name() == "Flip every component":
            self.times.append(time.monotonic() - self.started)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["FLIP_TIMES_FILE"], "w") as handle:
            json.dump(self.times, handle)
"""

FLIP_TASK = """
- name: Flip every component
  zerodowntime.cluster.kilda_zk_signal:
    hosts: "{{ zk_hosts }}"
    targets: "{{ flip_targets }}"
    signal: "{{ flip }}"
    wait_timeout: 60
    poll_interval: 2.0
"""

# One task per flip, as the role runs them (a loop over one task would share its worker).
PLAYBOOK = """
- name: Flip the colour back and forth as the role does
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: One flip per item
      ansible.builtin.include_tasks: flip.yml
      loop: "{{ flips }}"
      loop_control:
        loop_var: flip
"""


def playbook_flips(hosts, rounds):
    """Seconds per flip as tasks of one ansible-playbook run (SHUTDOWN and START alternating),
    timed by a callback from task start to task result."""
    with tempfile.TemporaryDirectory(prefix="zdt-bench-play-") as tmp:
        os.makedirs(os.path.join(tmp, "callback_plugins"))
        for name, text in (("site.yml", PLAYBOOK), ("flip.yml", FLIP_TASK),
                           (os.path.join("callback_plugins", "flip_timer.py"), TASK_TIMER)):
            with open(os.path.join(tmp, name), "w") as handle:
                handle.write(text)
        times_file = os.path.join(tmp, "times.json")
        extra = dict(zk_hosts=hosts, flip_targets=TARGETS, flips=["SHUTDOWN", "START"] * rounds)
        env = dict(ansible_env(), FLIP_TIMES_FILE=times_file, ANSIBLE_CALLBACKS_ENABLED="flip_timer")
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                               os.path.join(tmp, "site.yml"), "-e", json.dumps(extra)],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
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
    print("  %-36s %2d flips, median %6.3f s" % (name, len(times), median), flush=True)
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
        ours = {"module_utils": measure("kilda_zk_signal (module_utils)", module_utils_flip, hosts, expected, 3)}
        ours["module process"] = measure("kilda_zk_signal (module process)", shipped_module_flip(hosts, base), hosts,
                                         expected, 3)
        times = playbook_flips(hosts, 3)
        ours["playbook task"] = statistics.median(times)
        print("  %-36s %2d flips, median %6.3f s" % ("kilda_zk_signal (playbook task)", len(times),
                                                     ours["playbook task"]), flush=True)
        ours["ansible -m"] = measure("kilda_zk_signal (ansible -m)", ansible_flip, hosts, expected, 1)
        seed = {"one session": measure("seed, one zkCli.sh session/round", baseline_session, hosts, expected, 1),
                "per command": measure("seed, one zkCli.sh per command", baseline_per_command, hosts, expected, 2)}
        print("ratios (seed's time / ours):")
        print("  %-18s" % "" + "".join("%16s" % name for name in ours))
        for label, baseline in seed.items():
            print("  seed, %-12s" % label + "".join("%15.1fx" % (baseline / t) for t in ours.values()))
        ratio = seed["per command"] / ours["module process"]
        print("target: the module >= 20x faster than the seed's commands run one zkCli.sh per command: %.1fx, %s"
              % (ratio, "met" if ratio >= 20 else "NOT met"))
    finally:
        for workdir in (kilda_dir, zk_dir):
            if os.path.exists(os.path.join(workdir, "lab.json")):
                labctl("down", "--workdir", workdir)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
