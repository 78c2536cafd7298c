"""Kilda component simulators: one process hosts one lab member (a colour's topologies, a
Floodlight region, northbound, grpc, ...), each component with its own ZooKeeper session as
in Kilda.

Behaviour follows the Kilda reference and the upstream files named in README.md: nodes are
created if missing (never the chroot), ``expected_state`` is overwritten at start, ``signal``
is read once at start and then watched, every signal becomes one event with a new id that every
task gets at once and handles on its own (no signal waits for the one before), ``state`` is
written by one tracker after each confirmation and counts confirmations by event id as Kilda's
does (see Tracker), hubs drain their in-flight work before confirming a SHUTDOWN and never
confirm it if a START reactivates them first, ``build-version`` is read at start and watched
(empty values ignored), sessions are re-established after loss.

A component hangs while the file ``<hang dir>/<component>`` or ``<hang dir>/<component>@<env>``
exists: a START handled then leaves its last task active without ever confirming it (a failed
cache load), and the last hub's in-flight operation does not end (so its SHUTDOWN confirmation
waits) until the file is removed, or for at most HANG_MAX seconds. A file holding ``start`` or
``drain`` hangs only that phase. A file holding ``lose-write`` is a fault instead: the write of
``state`` that completes the component's current transition waits until its ZooKeeper
connection drops (kill the server it uses, e.g. the leader), is then lost as Kilda loses it, and
the file is removed. A file holding ``cut-link`` is the same fault with its own cause: at that
write the component's own link to its server breaks (the server keeps serving everyone else), so
its connection drops and it reconnects to another server of the ensemble.
"""
import argparse
import json
import logging
import os
import queue
import random
import signal as signals
import socket
import sys
import threading
import time
import uuid

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, KazooException, NodeExistsError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from kilda_lab import catalogue, zkauth

LOG = logging.getLogger("kilda-sim")
START, SHUTDOWN = "START", "SHUTDOWN"
CHROOT_WAIT = 120.0  # Kilda retries forever when the chroot is missing; the lab gives up.
HANG_MAX = 600.0  # a hung task recovers by itself after this long, so no simulator hangs forever
LOSE_WRITE_MAX = 120.0  # how long fault lose-write waits for the connection to drop before writing anyway
LOST_WRITE_FAULTS = ("lose-write", "cut-link")


class Task:
    """One participating bolt task (Storm) or producer/consumer (Floodlight)."""

    def __init__(self, kind):
        self.kind = kind
        self.active = False
        # A hub's SHUTDOWN event whose confirmation waits for its in-flight operation to end; a
        # START in the meantime cancels it for good (see Tracker).
        self.deferred = None


class Tracker:
    """Counts confirmations the way Kilda's one tracker per topology or Floodlight does
    (src-java/blue-green/.../ZkStateTracker.java): every signal is one event with a fresh id
    (ZooKeeperSpout.nextTuple, Floodlight's ZooKeeperService.handle); START confirmations of the
    event being counted add one, a START confirmation of another event while one is counted
    restarts the count at 1; SHUTDOWN confirmations subtract one, floored at 0, and one of an
    event other than the SHUTDOWN being counted is ignored. Any START forgets the SHUTDOWN
    being counted and any SHUTDOWN forgets the START, so nothing resets the count between a
    SHUTDOWN and the next START: confirmations that never come (a hub reactivated while
    draining) leave the count off for the life of the process."""

    def __init__(self):
        self.start_event = None
        self.shutdown_event = None
        self.active = 0

    def confirm(self, signal, event):
        if signal == START:
            self.shutdown_event = None
            if self.start_event is not None and self.start_event != event:
                self.start_event, self.active = event, 1
            else:
                self.start_event = event
                self.active += 1
        else:
            if self.shutdown_event is None or self.shutdown_event == event:
                self.shutdown_event = event
                self.active = max(0, self.active - 1)
            else:
                LOG.error("confirmation of unknown SHUTDOWN event %s ignored", event)
            self.start_event = None
        return self.active


class Component:
    def __init__(self, hosts, prefix, name, env_id, tasks, reacts, hang_dir, drain_ms, report, session_timeout=30.0,
                 in_order=False):
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
        self.tracker = Tracker()
        self.lock = threading.RLock()
        self.in_flight_finished = 0
        self.peak_draining = 0
        self.session_losses = 0
        # set on every connection drop: a drop to a dead server's successor can be over within
        # milliseconds, too fast to see by polling ``connected``
        self.dropped = threading.Event()
        self.lost_writes = 0
        self.signals = queue.Queue()
        self.initial_done = threading.Event()
        self.hosts = hosts
        self.client = KazooClient(
            # Kilda's ZooKeeper client picks a random server of the connect string; in order only for tests
            hosts=hosts, timeout=session_timeout, randomize_hosts=not in_order,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
            command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0, deadline=60),
            **zkauth.from_environment(),
        )
        self.client.add_listener(self._on_session)

    # --- ZooKeeper plumbing --------------------------------------------------------------
    def _on_session(self, state):
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            self.dropped.set()
        if state == KazooState.LOST:
            self.session_losses += 1
            LOG.warning("%s: session lost", self.base)
        self.report()  # also for the server it talks to now (see server)

    def _socket(self):
        """Kazoo's socket to the server (kazoo has no public accessor); AttributeError while it has none."""
        return self.client._connection._socket  # pylint: disable=protected-access

    def server(self):
        """"host:port" of the ZooKeeper server this component is connected to, None while it is not."""
        try:
            host, port = self._socket().getpeername()[:2]
        except (AttributeError, OSError):
            return None
        return "%s:%d" % (host, port) if self.client.connected else None

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
            threading.Thread(target=self._dispatcher, daemon=True, name=self.base).start()
            self.client.DataWatch(self.base + "/signal", self._on_signal)
        self.report()

    def _on_version(self, data, stat):
        if data:
            self.build_version = data.decode()
            self.report()

    def _on_signal(self, data, stat):
        if data is not None:
            self.signals.put(data.decode())

    def _write_state(self, value):
        """One attempt, as Kilda makes it: ZkWriter.setData turns a ZooKeeper error (a connection or
        session loss) into an IllegalStateException, which ZooKeeperBolt.handleInput only logs. The
        count in memory is right, but ``state`` keeps its old value until the next confirmation,
        and none comes for a signal the tasks already follow. Kazoo would queue the request while
        reconnecting; Kilda's client fails it at once, so a write while disconnected is lost too."""
        # faults lose-write and cut-link: the write was in flight when the connection dropped, even
        # if the client is connected to another server by the time it would be sent
        fault = self._write_lost_now(value)
        if fault == "cut-link":
            self._cut_own_link()
        in_flight_at_drop = fault is not None and self._wait_disconnected()
        try:
            if in_flight_at_drop or not self.client.connected:
                raise ConnectionLoss("the connection dropped" if in_flight_at_drop else "not connected")
            self.client.set(self.base + "/state", str(value).encode())
        except (KazooException, KazooTimeoutError) as exc:
            self.lost_writes += 1
            LOG.warning("%s: state %s not written (%s), kept only in memory", self.base, value, type(exc).__name__)
        self.report()

    def _write_lost_now(self, value):
        """Fault ``lose-write`` or ``cut-link`` (see the module docstring): the fault when this is the
        write that completes the transition the component is in, else None. The marker is used up by it."""
        fault = self.marker()
        if fault not in LOST_WRITE_FAULTS:
            return None
        done = value == 0 if self.last_signal == SHUTDOWN else value == len(self.tasks)
        if not done:
            return None
        for name in (self.name, "%s@%s" % (self.name, self.env_id)):
            try:
                os.unlink(os.path.join(self.hang_dir, name))
            except OSError:
                pass
        self.dropped.clear()
        return fault

    def _wait_disconnected(self):
        """Whether the connection dropped (since _write_lost_now) within LOSE_WRITE_MAX seconds."""
        return self.dropped.wait(LOSE_WRITE_MAX)

    def _cut_own_link(self):
        """Fault cut-link: this component's connection to its server breaks and the server stays up,
        so it reconnects to another server (its own one stays out of reach until then). Kazoo
        keeps the session and sets its watches again there; Kilda's ZkClient would open a new
        session (ZkClient.refreshConnection). Either way its watch on signal changes hands."""
        server = self.server()
        others = [h for h in self.hosts.split(",") if h != server]
        self.client.set_hosts(",".join(others))
        try:
            self._socket().shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass  # dropped already
        threading.Thread(target=self._restore_hosts, daemon=True).start()

    def _restore_hosts(self):
        """All servers again once connected elsewhere (set_hosts applies to the next connection only)."""
        deadline = time.monotonic() + LOSE_WRITE_MAX
        while not (self.dropped.is_set() and self.client.connected) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.set_hosts(self.hosts)

    # --- lifecycle --------------------------------------------------------------------------
    def marker(self):
        """Content of this component's file in the hang dir ("" when empty), None without one."""
        for name in (self.name, "%s@%s" % (self.name, self.env_id)):
            try:
                with open(os.path.join(self.hang_dir, name)) as handle:
                    return handle.read().strip()
            except OSError:
                continue
        return None

    def hung(self, phase=None):
        """Whether a hang file applies to ``phase`` ("start" or "drain"; None: either). An empty
        file applies to both; one holding a phase name only to that phase."""
        only = self.marker()
        return only is not None and (only == "" or only == phase or (phase is None and only in ("start", "drain")))

    def _dispatcher(self):
        """Delivers each signal to every task at once, as Storm's all-grouping broadcast of the
        spout's event does (ZooKeeperSpout.nextTuple emits every signal as it comes, each with a
        new id). Nothing here waits for a task: each one confirms on its own, so a task that
        never confirms holds up neither the other tasks nor the next signal."""
        while True:
            value = self.signals.get()
            if value not in (START, SHUTDOWN):
                if value:
                    LOG.error("%s: unknown signal %r ignored", self.base, value)
                self.initial_done.set()
                continue
            self.last_signal = value
            event = uuid.uuid4().hex
            hung = self.hung("start")
            with self.lock:
                for index, task in enumerate(self.tasks):
                    if value == START:
                        self._task_start(index, task, event, hung)
                    else:
                        self._task_shutdown(index, task, event)
            self.initial_done.set()

    def _task_start(self, index, task, event, hung):
        if task.active:
            return  # START on an active task is ignored (AbstractBolt.shouldHandleLifeCycleEvent)
        task.active = True
        # A hub still draining a SHUTDOWN never confirms it now: its deferred confirmation is only
        # sent while it is inactive (flowhs FlowProcessingService.cancelProcessing, Floodlight's
        # kafka/Consumer.run).
        task.deferred = None
        if hung and index == len(self.tasks) - 1:
            # Its activation failed (e.g. a cache load): the task is active but never confirms
            # this START (AbstractBolt.handleLifeCycleEvent sets active whatever activateAndConfirm
            # returns; stats CacheBolt returns false when its cache load fails).
            LOG.warning("%s: task %d active but its START is never confirmed", self.base, index)
            return
        self._confirm(START, event)

    def _task_shutdown(self, index, task, event):
        if not task.active:
            return  # SHUTDOWN on an inactive task is ignored
        task.active = False  # stop accepting new work at once
        if task.kind != "hub":
            self._confirm(SHUTDOWN, event)
            return
        # Deferred shutdown: the operation already in flight runs to its end first; the last hub's
        # may never end while the component is hung.
        task.deferred = event
        self.peak_draining = max(self.peak_draining, sum(t.deferred is not None for t in self.tasks))
        may_hang = index == max(i for i, t in enumerate(self.tasks) if t.kind == "hub")
        threading.Thread(target=self._drain, args=(task, event, may_hang), daemon=True).start()

    def _drain(self, task, event, may_hang):
        time.sleep(random.uniform(0.0, self.drain_ms / 1000.0))
        deadline = time.monotonic() + HANG_MAX
        while may_hang and self.hung("drain") and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            if task.deferred != event or task.active:
                return  # reactivated meanwhile (or shut down again): this confirmation is never sent
            task.deferred = None
            self.in_flight_finished += 1
            self._confirm(SHUTDOWN, event)

    def _confirm(self, signal, event):
        """One confirmation reaching the tracker; it writes ``state`` after each one, in the order
        they arrive (ZooKeeperBolt.handleInput, one executor)."""
        with self.lock:
            self._write_state(self.tracker.confirm(signal, event))

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
            "active": sum(t.active for t in self.tasks), "counter": self.tracker.active,
            "build_version": self.build_version, "last_signal": self.last_signal,
            "in_flight_finished": self.in_flight_finished, "peak_draining": self.peak_draining,
            "session_losses": self.session_losses,
            "lost_writes": self.lost_writes, "server": self.server(),
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
    parser.add_argument("--session-timeout", type=float, default=30.0)
    parser.add_argument("--zk-in-order", action="store_true")
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
        components.append(Component(args.zk, args.prefix, name, env_id, tasks, reacts, args.hang_dir, args.drain_ms, report,
                                    args.session_timeout, args.zk_in_order))
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
