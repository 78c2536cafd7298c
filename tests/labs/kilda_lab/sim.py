"""Kilda component simulators: one process hosts one lab member (a colour's topologies, a
Floodlight region, northbound, grpc, ...), each component with its own ZooKeeper session as
in Kilda.

Behaviour follows the Kilda reference: nodes are created if missing (never the chroot),
``expected_state`` is overwritten at start, ``signal`` is read once at start and then watched,
every task confirms START/SHUTDOWN separately and ``state`` is the count of active tasks, hubs
drain their in-flight work before confirming a SHUTDOWN, ``build-version`` is read at start and
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
        for index, task in enumerate(self.tasks):
            if task.active:
                continue  # START on an active task is ignored: it never counts twice
            task.active = True
            if index == len(self.tasks) - 1:
                self._wait_unhung(stop)  # e.g. a cache load that never completes
            time.sleep(random.uniform(0.0, 0.01))
            self.counter += 1
            self._write_state()

    def _shutdown_tasks(self, stop):
        for index, task in enumerate(self.tasks):
            if not task.active:
                continue
            task.active = False  # stop accepting new work at once
            if task.kind == "hub":
                # Deferred shutdown: the operation already in flight runs to its end.
                time.sleep(random.uniform(0.0, self.drain_ms / 1000.0))
                if index == len(self.tasks) - 1 or all(t.kind != "hub" for t in self.tasks[index + 1:]):
                    self._wait_unhung(stop)
                self.in_flight_finished += 1
            self.counter = max(0, self.counter - 1)
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
    lock = threading.Lock()
    components = []

    def report():
        with lock:
            data = {"member": args.member, "pid": os.getpid(), "components": [c.snapshot() for c in components]}
            tmp = args.report + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, args.report)

    components.extend(build(args, report))
    for component in components:
        component.start()
    for component in components:
        component.settled_after_start()
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
