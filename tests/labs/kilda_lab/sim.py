"""Kilda component simulators: one process hosts one lab member (a colour's topologies, a
Floodlight region, northbound, grpc, ...), each component with its own ZooKeeper session as
in Kilda.

Behaviour follows the Kilda reference: nodes are created if missing (never the chroot),
``expected_state`` is overwritten at start, ``signal`` is read once at start and then watched,
every task gets START/SHUTDOWN at once and confirms it separately, ``state`` is the count of
active tasks written by one tracker after each confirmation, hubs drain their in-flight work
before confirming a SHUTDOWN, ``build-version`` is read at start and
watched (empty values ignored), sessions are re-established after loss.

A component hangs while the file ``<hang dir>/<component>`` or ``<hang dir>/<component>@<env>``
exists: its last task never confirms (a cache load or an in-flight operation that never ends).
"""
import argparse
import json
import logging
import os
import queue
import random
import signal as signals
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError
from kazoo.retry import KazooRetry

from kilda_lab import catalogue, zkauth

LOG = logging.getLogger("kilda-sim")
START, SHUTDOWN = "START", "SHUTDOWN"
CHROOT_WAIT = 120.0  # Kilda retries forever when the chroot is missing; the lab gives up.
START_MS = 10  # longest time a task takes to activate (cache loads included) when not hung
HANG_MAX = 600.0  # a hung task recovers by itself after this long, so no simulator hangs forever


class Task:
    def __init__(self, kind):
        self.kind = kind
        self.active = False


class Component:
    def __init__(self, hosts, prefix, name, env_id, tasks, reacts, hang_dir, drain_ms, report):
        self.name, self.env_id = name, env_id
        self.base = "%s/%s/%s" % (prefix.rstrip("/"), name, env_id)
        self.prefix = prefix
        self.tasks = [Task(kind) for kind in tasks]
        self.reacts = reacts
        self.hang_dir = hang_dir
        self.drain_ms = drain_ms
        self.report = report
        self.build_version = None
        self.last_signal = None
        self.counter = 0
        self.in_flight_finished = 0
        self.session_losses = 0
        self.signals = queue.Queue()
        self.initial_done = threading.Event()
        self.client = KazooClient(
            hosts=hosts, timeout=6.0,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
            command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0, deadline=60),
            **zkauth.from_environment(),
        )
        self.client.add_listener(self._on_session)

    # --- ZooKeeper plumbing --------------------------------------------------------------
    def _on_session(self, state):
        if state == KazooState.LOST:
            self.session_losses += 1
            LOG.warning("%s: session lost", self.base)
            self.report()

    def _ensure(self, path, value):
        if self.client.retry(self.client.exists, path) is None:
            try:
                self.client.retry(self.client.create, path, value.encode())
            except NodeExistsError:
                pass  # another process won the exists-then-create race, as in Kilda

    def start(self):
        self.client.start(timeout=30)
        deadline = time.monotonic() + CHROOT_WAIT
        while self.client.retry(self.client.exists, self.prefix) is None:
            if time.monotonic() > deadline:
                raise SystemExit("%s: chroot %s does not exist" % (self.base, self.prefix))
            time.sleep(0.2)
        self._ensure("%s/%s" % (self.prefix.rstrip("/"), self.name), "")
        self._ensure(self.base, "")
        self._ensure(self.base + "/signal", "")
        self._ensure(self.base + "/build-version", catalogue.DEFAULT_BUILD_VERSION)
        if self.reacts:
            self._ensure(self.base + "/state", "")
            self._ensure(self.base + "/expected_state", "")
            self.client.retry(self.client.set, self.base + "/expected_state", str(len(self.tasks)).encode())
        # The start-up read takes whatever is there, even empty; only the watch ignores empty.
        data = self.client.retry(self.client.get, self.base + "/build-version")[0]
        self.build_version = data.decode()
        self.client.DataWatch(self.base + "/build-version", self._on_version)
        if self.reacts:
            threading.Thread(target=self._worker, daemon=True, name=self.base).start()
            self.client.DataWatch(self.base + "/signal", self._on_signal)
        self.report()

    def _on_version(self, data, stat):
        if data:
            self.build_version = data.decode()
            self.report()

    def _on_signal(self, data, stat):
        if data is not None:
            self.signals.put(data.decode())

    def _write_state(self):
        self.client.retry(self.client.set, self.base + "/state", str(self.counter).encode())
        self.report()

    # --- lifecycle --------------------------------------------------------------------------
    def hung(self):
        return any(os.path.exists(os.path.join(self.hang_dir, n)) for n in (self.name, "%s@%s" % (self.name, self.env_id)))

    def _wait_unhung(self, stop):
        deadline = time.monotonic() + HANG_MAX
        while self.hung() and not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _worker(self):
        stop = threading.Event()
        while True:
            value = self.signals.get()
            if value not in (START, SHUTDOWN):
                if value:
                    LOG.error("%s: unknown signal %r ignored", self.base, value)
                self.initial_done.set()
                continue
            self.last_signal = value
            if value == START:
                self._start_tasks(stop)
            else:
                self._shutdown_tasks(stop)
            self.initial_done.set()

    def _start_tasks(self, stop):
        changing = [(index, task) for index, task in enumerate(self.tasks) if not task.active]
        for index, task in changing:
            task.active = True  # START on an active task is ignored: it never counts twice
        last = len(self.tasks) - 1

        def confirm(task):
            self.counter += 1

        # e.g. the last task's cache load never completes while the component is hung
        self._confirm_in_parallel(changing, lambda task: START_MS, lambda index: index == last, confirm, stop)

    def _shutdown_tasks(self, stop):
        changing = [(index, task) for index, task in enumerate(self.tasks) if task.active]
        for index, task in changing:
            task.active = False  # stop accepting new work at once
        hubs = [index for index, task in enumerate(self.tasks) if task.kind == "hub"]

        def confirm(task):
            if task.kind == "hub":
                self.in_flight_finished += 1
            self.counter = max(0, self.counter - 1)

        # Deferred shutdown: a hub's operation already in flight runs to its end (the last hub's
        # may never end while the component is hung); plain tasks confirm at once.
        hang_index = hubs[-1] if hubs else None
        self._confirm_in_parallel(changing, lambda task: self.drain_ms if task.kind == "hub" else 0,
                                  lambda index: index == hang_index, confirm, stop)

    def _confirm_in_parallel(self, changing, delay_ms, may_hang, confirm, stop):
        """Every task got the lifecycle event at once (all-grouping broadcast) and confirms after
        its own delay; the one tracker writes ``state`` after each confirmation, in the order
        they arrive. A hung task confirms last, when it is released."""
        now = time.monotonic()
        due = []
        for index, task in changing:
            due.append((now + random.uniform(0.0, delay_ms(task) / 1000.0), index, task))
        due.sort(key=lambda item: item[0])
        held = []
        for when, index, task in due:
            if may_hang(index) and self.hung():
                held.append((index, task))
                continue
            time.sleep(max(0.0, when - time.monotonic()))
            confirm(task)
            self._write_state()
        for index, task in held:
            self._wait_unhung(stop)
            confirm(task)
            self._write_state()

    def settled_after_start(self, timeout=60.0):
        """Until the signal found at start-up has been acted on (or the component hangs), so the
        lab reports ready only once its counters stopped moving."""
        deadline = time.monotonic() + timeout
        while self.reacts and not self.initial_done.wait(0.05):
            if self.hung() or time.monotonic() > deadline:
                return

    def snapshot(self):
        return {
            "path": self.base, "reacts": self.reacts, "tasks": len(self.tasks),
            "active": sum(t.active for t in self.tasks), "counter": self.counter,
            "build_version": self.build_version, "last_signal": self.last_signal,
            "in_flight_finished": self.in_flight_finished, "session_losses": self.session_losses,
            "hung": self.hung(),
        }


class Reporter:
    """Writes the member's status file. Confirmations only flag a change; one thread writes, so
    a burst of confirmations costs one file write, not one each, and never holds them up."""

    def __init__(self, path, member, components):
        self.path = path
        self.member = member
        self.components = components
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="report").start()

    def changed(self):
        self._dirty.set()

    def flush(self):
        with self._lock:
            self._dirty.clear()
            data = {"member": self.member, "pid": os.getpid(), "components": [c.snapshot() for c in self.components]}
            tmp = self.path + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)

    def _run(self):
        while True:
            self._dirty.wait()
            self.flush()


def parse_args(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--zk", required=True)
    parser.add_argument("--prefix", default="/kilda")
    parser.add_argument("--member", required=True)
    parser.add_argument("--component", action="append", default=[],
                        help="name:env_id:kind where kind is topology, floodlight or version")
    parser.add_argument("--report", required=True, help="status file written on every change")
    parser.add_argument("--hang-dir", required=True)
    parser.add_argument("--drain-ms", type=int, default=200)
    return parser.parse_args(argv)


def build(args, report):
    components = []
    for spec in args.component:
        name, env_id, kind = spec.rsplit(":", 2)
        if kind == "topology":
            tasks, reacts = catalogue.TOPOLOGIES[name], True
        elif kind == "floodlight":
            tasks, reacts = catalogue.floodlight_tasks(env_id), True
        else:
            tasks, reacts = [], False
        components.append(Component(args.zk, args.prefix, name, env_id, tasks, reacts, args.hang_dir, args.drain_ms, report))
    return components


def main(argv):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    args = parse_args(argv)
    components = []
    reporter = Reporter(args.report, args.member, components)
    report = reporter.changed
    components.extend(build(args, report))
    for component in components:
        component.start()
    for component in components:
        component.settled_after_start()
    reporter.flush()  # the lab reads the report as soon as it sees the .ready file
    with open(args.report + ".ready", "w") as handle:
        handle.write("ready\n")
    done = threading.Event()
    signals.signal(signals.SIGTERM, lambda *_: done.set())
    while not done.is_set():
        time.sleep(0.2)  # interrupted by SIGTERM; Event.wait would delay the handler
    # Kilda processes are simply killed on redeploy; closing sessions just saves the ensemble work.
    closers = [threading.Thread(target=c.client.stop, daemon=True) for c in components]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
