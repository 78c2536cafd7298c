# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""kilda_zk_signal: bring signal/build-version of many components to the desired values in
one ZooKeeper transaction, then optionally wait until every component has settled.

The transaction is a ZooKeeper ``multi``: every write carries the version that was read, so a
concurrent change aborts the whole batch instead of being overwritten, and a batch is applied
entirely or not at all. When the connection drops during commit (a leader dies), the outcome
is unknown; the nodes are read again and the plan is recomputed, which is safe because the
plan is "desired values", not "operations".
"""

from __future__ import annotations

import contextlib
import threading
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
    TerminalFailure,
    ValidationError,
    WaitTimeout,
    ZdtError,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import Deadline, poll
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout, servers, settle, snapshot

try:
    from kazoo.exceptions import (
        BadVersionError,
        ConnectionLoss,
        NodeExistsError,
        NoNodeError,
        OperationTimeoutError,
        RolledBackError,
        SessionExpiredError,
    )
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.protocol.states import KazooState

    DISRUPTED = (KazooState.SUSPENDED, KazooState.LOST)
    RETRY_COMMIT = (BadVersionError, NodeExistsError, NoNodeError, RolledBackError)
    CONNECTION_ERRORS = (ConnectionLoss, SessionExpiredError, OperationTimeoutError, KazooTimeoutError)
except ImportError:
    RETRY_COMMIT = CONNECTION_ERRORS = DISRUPTED = ()

MAX_COMMIT_ATTEMPTS = 8
# How long (s) ``state > expected_state`` after START must last to be an over-count rather than a
# SHUTDOWN confirmation sent just before START arrived and not counted yet (a matter of milliseconds).
OVERCOUNT_GRACE = 3.0
# How long a pending state must stay unchanged after ZooKeeper dropped this module's connection
# (and with it, in a leader election, every component's) to count as stale rather than slow.
STALE_GRACE = 5.0
# Kilda's zookeeper.session.timeout. A client notices that its server is gone when two thirds of its
# session timeout pass without an answer: at once when the server died (its sockets close), only
# then when the server was cut off by a partition (no reset ever arrives).
COMPONENT_SESSION_TIMEOUT = 30.0


def noticed_after(component_session_timeout=None):
    """Seconds a component takes to notice a server that went silent: two thirds of its session
    timeout, when its reads time out."""
    timeout = COMPONENT_SESSION_TIMEOUT if component_session_timeout is None else float(component_session_timeout)
    return timeout * 2.0 / 3.0


def stale_grace(component_session_timeout=None):
    """Seconds a state must stay unchanged after a connection loss before it counts as stale: long
    enough for a component whose server was partitioned to notice and reconnect."""
    return max(STALE_GRACE, noticed_after(component_session_timeout) + 1.0)


class StaleState(TerminalFailure):
    """States that stopped moving across a ZooKeeper connection loss (see SignalService.wait)."""

    def __init__(self, msg, stale=None, **kwargs):
        super().__init__(msg, **kwargs)
        self.stale = stale or []


class Op:
    """One write of the transaction."""

    def __init__(self, kind, path, value, version=None, target=None, child=None):
        self.kind = kind  # "create" or "set"
        self.path = path
        self.value = value
        self.version = version
        self.target = target
        self.child = child

    def as_dict(self):
        return {"op": self.kind, "path": self.path, "value": self.value}


def desired_children(signal, build_version):
    out = {}
    if signal is not None:
        out[layout.SIGNAL] = signal
    if build_version is not None:
        out[layout.BUILD_VERSION] = build_version
    return out


def plan(snapshots, desired, create_missing):
    """Ops that bring every snapshot to ``desired`` ({child: value}); parents first."""
    ops, created = [], set()
    missing = []
    for snap in snapshots:
        for child, value in desired.items():
            node = snap.nodes[child]
            if node.exists:
                if node.value != value:
                    ops.append(Op("set", snap.target.child(child), value, node.version, snap.target, child))
                continue
            if not create_missing:
                missing.append(snap.target.child(child))
                continue
            for parent in snap.target.parents():
                if not snap.parents.get(parent) and parent not in created:
                    created.add(parent)
                    ops.append(Op("create", parent, "", target=snap.target))
            ops.append(Op("create", snap.target.child(child), value, target=snap.target, child=child))
    if missing:
        raise ValidationError(
            "%d node(s) do not exist: %s. Nodes are only created with create_missing: true "
            "(for example to pre-set a colour that is not deployed yet)" % (len(missing), ", ".join(missing)),
            missing=missing)
    return ops


def inherited_acls(client, ops):
    """{path: ACL} for every node ``ops`` create: the ACL of its closest existing ancestor.

    A colour pre-set under a protected chroot must stay protected (and readable by the same
    identities as its siblings); under Kilda's usual world-open chroot this is the open ACL."""
    created = {op.path for op in ops if op.kind == "create"}
    of_parent, out = {}, {}
    for op in ops:
        if op.kind != "create":
            continue
        parent = op.path.rsplit("/", 1)[0] or "/"
        while parent in created:
            parent = parent.rsplit("/", 1)[0] or "/"
        if parent not in of_parent:
            acl = list(client.get_acls(parent)[0])
            # Without ADMIN on the parent, ZooKeeper shows digest ids as "user:x"; copying that
            # would lock everyone out of the new nodes.
            if any(a.id.scheme == "digest" and a.id.id.endswith(":x") for a in acl):
                raise ZdtError("cannot give the new nodes the ACL of %s: reading its digest ids needs the ADMIN "
                               "permission on it" % parent, path=parent)
            of_parent[parent] = acl
        out[op.path] = of_parent[parent]
    return out


def commit(client, ops):
    """Run ``ops`` as one multi; raises the first failing op's error (nothing was applied)."""
    acls = inherited_acls(client, ops)
    transaction = client.transaction()
    for op in ops:
        if op.kind == "create":
            transaction.create(op.path, op.value.encode("utf-8"), acl=acls[op.path])
        else:
            transaction.set_data(op.path, op.value.encode("utf-8"), version=op.version)
    results = transaction.commit()
    for op, result in zip(ops, results):
        if isinstance(result, Exception) and not isinstance(result, RolledBackError):
            raise result
    return results


class SignalService:
    def __init__(self, client, prefix, targets, signal=None, build_version=None, create_missing=False,
                 clock=time.monotonic, component_session_timeout=None, watch=None):
        self.client = client
        # connection parameters of the ensemble whose servers a wait watches (see servers.py); None: none watched
        self.watch = watch
        self.component_session_timeout = component_session_timeout
        self.prefix = prefix
        self.targets = targets
        self.signal = layout.check_signal(signal)
        self.build_version = layout.check_build_version(build_version)
        self.create_missing = create_missing
        self.desired = desired_children(self.signal, self.build_version)
        if not self.desired:
            raise ValidationError("set at least one of signal or build_version")
        self.clock = clock
        self._wake = threading.Event()
        self._holders = None  # the components' signal watches before the commit (see servers.WatchMoves)

    # --- changing ---------------------------------------------------------------------------
    def read(self):
        return snapshot.read(self.client, self.targets)

    def _on_change(self, event):
        self._wake.set()

    def apply(self, check_mode, deadline):
        """(before snapshots, first plan, after snapshots, attempts)."""
        before = self.reread(deadline)
        first = plan(before, self.desired, self.create_missing)
        if check_mode or not first:
            return before, first, before, 0
        if self.watch and self.signal:
            # Before the commit: a component whose link breaks right after it leaves no earlier trace.
            self._holders = servers.holders_now(self.watch, self.signal_watches())
        ops, attempts, last_error = first, 0, None
        while ops:
            attempts += 1
            if attempts > MAX_COMMIT_ATTEMPTS or deadline.expired():
                raise ZdtError("could not commit the transaction after %d attempts: %s" % (attempts - 1, last_error),
                               operations=[o.as_dict() for o in ops])
            try:
                commit(self.client, ops)
                break
            except RETRY_COMMIT as exc:
                # Someone changed a node between our read and our write; nothing was applied.
                last_error = "%s on %s" % (type(exc).__name__, self._failed_path(ops, exc))
            except CONNECTION_ERRORS as exc:
                # Unknown outcome: the multi was applied entirely or not at all; re-read to see.
                last_error = "%s during commit" % type(exc).__name__
                self._await_connection(deadline)
            ops = plan(self.reread(deadline), self.desired, self.create_missing)
        after = self.reread(deadline)
        return before, first, after, attempts

    def signal_watches(self):
        """{path of each reacting target's signal node as the servers name it (with the chroot): its key}."""
        chroot = getattr(self.client, "chroot", "") or ""
        return {chroot + t.child(layout.SIGNAL): t.key for t in self.targets if t.reacts}

    def _failed_path(self, ops, exc):
        path = getattr(exc, "path", None)
        return path or "one of %d nodes" % len(ops)

    def _await_connection(self, deadline):
        end = min(deadline.remaining(), 30.0)
        limit = self.clock() + end
        while not self.client.connected and self.clock() < limit:
            time.sleep(0.05)

    def reread(self, deadline):
        """``read``, riding out connection losses until ``deadline``."""
        last = None
        for dummy in range(50):
            try:
                return self.read()
            except CONNECTION_ERRORS as exc:
                last = exc
                self._await_connection(deadline)
                if deadline.expired():
                    break
        raise ZdtError("lost the ZooKeeper connection while reading %d component(s): %s"
                       % (len(self.targets), type(last).__name__))

    # --- waiting ----------------------------------------------------------------------------
    def waited(self, snapshots):
        """Snapshots of the targets whose state follows the signal (northbound, grpc etc. never
        write state)."""
        if self.signal is None:
            return []
        return [s for s in snapshots if s.target.reacts]

    def wait(self, snapshots, timeout, interval, before=None):
        """Until every target of ``snapshots`` (read after the commit) has been seen settled. Only
        the counters of the ones still pending are read again, so the last confirmation is noticed
        one small read after ZooKeeper has it. ``before``: {key: snapshot read before the commit}.

        Fails at once (TerminalFailure) on what waiting cannot mend: an over-count after START
        (see settle) that lasted OVERCOUNT_GRACE seconds. A START written while the component was
        still draining its SHUTDOWN may over-count, and its state passes expected_state on the way
        up, so there equality only counts once it has lasted OVERCOUNT_GRACE seconds too.

        Kilda writes ``state`` once per confirmation and drops a write that fails on a connection
        or session loss, so after one a state may stay stale for good (the signal is not re-sent
        to tasks that follow it already). A pending state raises StaleState instead of waiting for
        wait_timeout when it has not changed for the stale grace after evidence that its
        component may have lost its connection since it was written: it was last written under an
        earlier leader epoch than the one this client sees now (a leader election came after),
        this module's own connection dropped during the wait, or a server of the ensemble went
        away during the wait (``watch``, see servers.py), and the state did not move after that.
        A state that moves is only slow."""
        if not snapshots:
            return None
        settled = {}
        pending_of = {}
        over_since = {}
        equal_since = {}
        draining = set(draining_when_started(before or {}, self.signal))
        seen = {}  # key: ((state value, version), first seen at)
        link = {"lost": None, "back": None, "epoch": self._epoch(), "causes": []}
        moved = {}  # key: when its signal watch was last seen to change hands (its own connection dropped)
        grace = stale_grace(self.component_session_timeout)
        began = self.clock()

        def cause(text):
            if text not in link["causes"]:
                link["causes"].append(text)

        def on_connection(state):
            if state in DISRUPTED:
                cause("this module's own connection dropped")
                link["lost"], link["back"] = self.clock(), None
            elif link["lost"] is not None and link["back"] is None:
                link["back"] = self.clock()
                self._wake.set()

        def note_epoch(now):
            epoch = self._epoch()
            if epoch > link["epoch"]:
                # A leader election happened since the commit: every client was disconnected.
                cause("a leader election")
                link["epoch"] = epoch
                link["lost"] = link["lost"] or now
                link["back"] = link["back"] or now

        def on_server_gone(name, why, at):
            # The components on that server lost their connections at ``at`` and reconnect to
            # another one; while this module's own connection is down, its return sets ``back``.
            cause("server %s %s" % (name, why))
            if link["lost"] is None or link["back"] is not None:
                link["lost"] = link["lost"] or at
                link["back"] = max(link["back"] or at, at)
            self._wake.set()

        def on_moved(key, why, at):
            cause("%s reconnected: %s" % (key, why))
            moved[key] = at
            self._wake.set()

        def fetch():
            self._wake.clear()
            waiting = [s for s in snapshots if s.target.key not in settled]
            pending = []
            now = self.clock()
            counters = snapshot.read_counters(self.client, waiting, self._on_change)
            note_epoch(now)
            for snap in counters:
                ok, why = settle.check(snap, self.signal)
                key = snap.target.key
                node = snap.nodes[layout.STATE]
                if seen.get(key, (None,))[0] != (node.value, node.version):
                    # a value there from the start counts from then: evidence noted before the first read
                    # (the server watch starts with the wait) applies to it
                    seen[key] = ((node.value, node.version), now if key in seen else began)
                if ok and key in draining:
                    since = equal_since.setdefault(key, now)
                    if now - since < OVERCOUNT_GRACE:
                        ok, why = False, ("state=expected_state for %.1fs only: START came while its SHUTDOWN was still "
                                          "draining, so it may still over-count" % (now - since))
                else:
                    equal_since.pop(key, None)
                if ok:
                    settled[snap.target.key] = snap
                else:
                    pending.append((snap, why))
                if settle.excess(snap, self.signal):
                    over_since.setdefault(snap.target.key, now)
                else:
                    over_since.pop(snap.target.key, None)
            pending_of["last"] = pending
            return {"snapshots": [settled[s.target.key] for s in snapshots if s.target.key in settled],
                    "pending": pending}

        def describe(observed):
            return "; ".join("%s: %s" % (settle.describe(s), why) for s, why in observed["pending"])

        def sample(observed, elapsed):
            return {"t": elapsed, "pending": [s.target.key for s, dummy in observed["pending"]],
                    "settled": len(observed["snapshots"])}

        def sleep(seconds):
            # Watches on the pending nodes wake us as soon as a state changes; the interval is a fallback.
            self._wake.wait(seconds)

        def stale(observed, now):
            found = []
            for snap, why in observed["pending"]:
                since = seen[snap.target.key][1]
                mzxid = snap.nodes[layout.STATE].mzxid
                # the causes of these were noted when they came
                drops = [at for at in (link["back"], moved.get(snap.target.key)) if at is not None and since <= at]
                if mzxid is not None and (mzxid >> 32) < link["epoch"]:
                    # Last written under an earlier leader: every client lost its connection since.
                    quiet_from, evidence = since, "a leader election since its last write"
                elif drops:
                    quiet_from, evidence = max(drops), None
                else:
                    continue
                if now - quiet_from >= grace:
                    if evidence:
                        cause(evidence)
                    found.append((snap, why))
            return found

        def failed(observed):
            now = self.clock()
            over = [s for s, dummy in observed["pending"]
                    if s.target.key in over_since and now - over_since[s.target.key] >= OVERCOUNT_GRACE]
            if over:
                others = [s.target.key for s, dummy in observed["pending"] if s not in over]
                return overcount_message(over, before or {}, others)
            found = stale(observed, now)
            if found:
                raise StaleState(stale_message(found, self.signal, grace, link["causes"]),
                                 stale=[s.target for s, dummy in found], causes=list(link["causes"]),
                                 last=[dict(s.as_dict(), reason=why) for s, why in found])
            return None

        listen = getattr(self.client, "add_listener", None)
        if listen is not None:
            listen(on_connection)
        watching = (servers.ServerWatch(self.watch, on_server_gone, noticed_after(self.component_session_timeout),
                                        clock=self.clock, on_moved=on_moved,
                                        moves=servers.WatchMoves(self.signal_watches(), self._holders))
                    if self.watch else contextlib.nullcontext())
        try:
            with watching:
                return poll(fetch, lambda o: not o["pending"], failed=failed, timeout=timeout, interval=interval,
                            describe=describe, sample=sample, transient=CONNECTION_ERRORS, clock=self.clock, sleep=sleep)
        except StaleState:
            raise
        except TerminalFailure as exc:
            pending = pending_of.get("last") or []
            raise TerminalFailure(str(exc), last=[dict(s.as_dict(), reason=why) for s, why in pending],
                                  elapsed=exc.elapsed, samples=exc.samples,
                                  overcounted=[s.target.key for s, dummy in pending if s.target.key in over_since])
        except WaitTimeout as exc:
            pending = pending_of.get("last") or []
            names = ", ".join(s.target.key for s, dummy in pending)
            detail = "; ".join("%s: %s" % (settle.describe(s), why) for s, why in pending)
            raise WaitTimeout(
                "timed out after %.1fs waiting for %d of %d component(s) to settle after %s: %s. Still pending: %s. "
                "ZooKeeper shows a hung component and one whose last write of state was lost unseen (only the "
                "connection it writes through dropped) alike: if its log shows a failed write of state, send %s and "
                "then %s again, waiting for each"
                % (exc.elapsed or 0, len(pending), len(snapshots), self.signal, names or "unknown (no answer)", detail,
                   opposite(self.signal), self.signal),
                last=[dict(s.as_dict(), reason=why) for s, why in pending], elapsed=exc.elapsed, samples=exc.samples)
        finally:
            if listen is not None:
                self.client.remove_listener(on_connection)

    def _epoch(self):
        """The leader epoch of the last zxid this client saw (the high 32 bits)."""
        return int(getattr(self.client, "last_zxid", 0) or 0) >> 32


def stale_message(found, signal, grace, causes):
    """Why the states of ``found`` look stale after a ZooKeeper connection loss (``causes``: what
    showed it, in words), and the way out."""
    return ("state of %d component(s) has not changed for %.0fs or more since ZooKeeper dropped connections (%s): %s. "
            "Kilda writes state once per confirmation and drops a write that fails on a connection or session loss "
            "(ZooKeeperBolt, ZkWriter), so these states are probably stale: the tasks follow "
            "%s but the node kept an older count, and re-sending %s makes no task confirm again. A component that is "
            "only slow (a hub finishing a long operation) would still change it. Way out: send these components %s and "
            "then %s again, waiting for each (this task twice, with these targets), so that every task confirms anew; "
            "with refresh_stale_state=true (the role sets it) this task does that by itself as soon as it finds them. "
            "For a SHUTDOWN do that only once no hub of them can still be draining (a START over a drain over-counts "
            "until the process restarts)"
            % (len(found), grace, ", ".join(causes),
               "; ".join("%s: %s" % (settle.describe(s), why) for s, why in found), signal, signal, opposite(signal), signal))


def draining_when_started(before, signal):
    """Keys of the components of ``before`` ({key: snapshot read before the commit}) whose START is
    written while their SHUTDOWN has not drained yet (signal SHUTDOWN, state > 0)."""
    if signal != "START":
        return []
    return [key for key, snap in before.items()
            if snap.value(layout.SIGNAL) == "SHUTDOWN" and (layout.parse_int(snap.value(layout.STATE)) or 0) > 0]


def overcount_message(over, before, others):
    """Why the over-counted components of ``over`` will never settle after START, and the way out."""
    parts = []
    for snap in over:
        state = layout.parse_int(snap.value(layout.STATE))
        expected = layout.parse_int(snap.value(layout.EXPECTED_STATE))
        earlier = before.get(snap.target.key)
        was = layout.parse_int(earlier.value(layout.STATE)) if earlier is not None else None
        if was is not None and state - was >= expected:
            tasks = "all %d tasks confirmed START (state rose from %d)" % (expected, was)
        else:
            tasks = "ZooKeeper cannot tell whether all %d tasks confirmed START" % expected
        parts.append("%s: state=%d is %d above expected_state=%d, %s" % (snap.target.key, state, state - expected, expected, tasks))
    msg = ("over-count after START, these component(s) will never settle: %s. Cause: Kilda counts confirmations, and the "
           "hubs that were still draining the previous SHUTDOWN when START reached them were reactivated without ever "
           "confirming that SHUTDOWN, so state stays that far above expected_state for as long as the component's "
           "process runs (a later SHUTDOWN stops at the excess instead of 0). Way out: restart the process of each "
           "(redeploy its Storm topology, restart the Floodlight) so that it counts from 0 again (it reads START at "
           "start-up), then re-run this task; next time wait until a SHUTDOWN has settled (state 0) before sending START"
           % "; ".join(parts))
    if others:
        msg += ". Also still pending: %s" % ", ".join(others)
    return msg


def run(client, params, check_mode):
    """The whole kilda_zk_signal task; returns the module result (raises ZdtError)."""
    prefix = layout.normalize_prefix(params.get("prefix"))
    targets = layout.parse_targets(prefix, params.get("targets"))
    sessions = params.get("component_session_timeout")
    service = SignalService(client, prefix, targets, params.get("signal"), params.get("build_version"),
                            bool(params.get("create_missing")), component_session_timeout=sessions,
                            # the servers are watched (and their watches listed before the commit) only for a wait
                            watch=params if params.get("wait") else None)
    deadline = Deadline(params.get("wait_timeout") or 600)
    started = time.monotonic()
    before, ops, after, attempts = service.apply(check_mode, deadline)
    result = {
        "changed": bool(ops),
        "targets": [_target_result(b, a, ops, service.desired, check_mode) for b, a in zip(before, after)],
        "operations": [o.as_dict() for o in ops],
        "commit_attempts": attempts,
        "diff": _diff(before, after, ops, service.desired, check_mode),
    }
    waited = service.waited(after)
    result["waited_for"] = [s.target.key for s in waited] if params.get("wait") and not check_mode else []
    result["refreshed"] = []
    result["causes"] = []
    if params.get("wait") and not check_mode and waited:
        interval = params.get("poll_interval") or 2.0
        try:
            outcome = _wait_refreshing(client, params, service, waited, before, deadline, interval, result)
        except (WaitTimeout, TerminalFailure) as exc:
            exc.details.update(changed=result["changed"], targets=result["targets"], operations=result["operations"],
                               refreshed=result["refreshed"])
            raise
        result["timeline"] = outcome.samples
        result["settled"] = [s.as_dict() for s in outcome.value["snapshots"]]
    else:
        result["timeline"] = []
    result["elapsed"] = round(time.monotonic() - started, 3)
    return result


def _wait_refreshing(client, params, service, waited, before, deadline, interval, result):
    """service.wait for ``waited``; with refresh_stale_state, each component found stale is
    refreshed once (what was done goes into ``result``) and the wait goes on. Several rounds can
    be needed: a component whose last write was lost later than the others' becomes stale later."""
    sessions = service.component_session_timeout
    before_of = {s.target.key: s for s in before}
    refreshed = set()
    while True:
        try:
            return service.wait(waited, max(0.001, deadline.remaining()), interval, before=before_of)
        except StaleState as exc:
            if not params.get("refresh_stale_state"):
                exc.details.update(stale=[t.key for t in exc.stale])
                raise
            result["causes"] += [c for c in exc.details.get("causes") or [] if c not in result["causes"]]
            again = [t for t in exc.stale if t.key in refreshed]
            if again:
                raise stale_again(again, exc.last, sessions, result["causes"]) from exc
            try:
                result["refreshed"] += refresh_stale(client, service.prefix, exc.stale, service.signal, deadline, interval,
                                                     sessions, watch=params)
            except StaleState as failed:
                raise stale_again(failed.stale, failed.last, sessions, result["causes"]) from failed
            refreshed.update(t.key for t in exc.stale)
            result["changed"] = True
            waited, before_of = service.waited(service.reread(deadline)), {}


def stale_again(targets, last, component_session_timeout, causes):
    """The failure for ``targets`` found stale again after their refresh."""
    return StaleState(
        "the refresh of the stale states found them stale again, so these components have not come back to ZooKeeper: "
        "%s. Check that their processes run and reach the ensemble, then run this task again (a higher "
        "component_session_timeout if theirs is longer than %s s)"
        % ("; ".join(t.key for t in targets), component_session_timeout or COMPONENT_SESSION_TIMEOUT),
        stale=targets, last=last, causes=causes)


def opposite(signal):
    return "START" if signal == "SHUTDOWN" else "SHUTDOWN"


def refresh_stale(client, prefix, targets, signal, deadline, interval, component_session_timeout=None, watch=None):
    """Make every task of ``targets`` confirm anew after their state was found stale: the opposite
    signal, waited for, then ``signal`` again, waited for. Returns what each step wrote."""
    steps = []
    for value in (opposite(signal), signal):
        service = SignalService(client, prefix, targets, value, component_session_timeout=component_session_timeout, watch=watch)
        before, ops, after, dummy = service.apply(False, deadline)
        service.wait(service.waited(after), max(0.001, deadline.remaining()), interval, before={s.target.key: s for s in before})
        steps.append({"signal": value, "targets": [t.key for t in targets], "operations": [o.as_dict() for o in ops]})
    return steps


def _values(snap):
    return {"signal": snap.value(layout.SIGNAL), "build_version": snap.value(layout.BUILD_VERSION)}


def _predicted(before, ops, desired):
    values = _values(before)
    touched = {op.child for op in ops if op.target is before.target and op.child}
    for child in touched:
        values["signal" if child == layout.SIGNAL else "build_version"] = desired[child]
    return values


def _target_result(before, after, ops, desired, check_mode):
    mine = [o for o in ops if o.target is before.target]
    return {
        "component": before.target.component,
        "env": before.target.env,
        "path": before.target.path,
        "changed": bool(mine),
        "created": [o.path for o in mine if o.kind == "create"],
        "before": _values(before),
        "after": _predicted(before, ops, desired) if check_mode else _values(after),
        "state": after.value(layout.STATE),
        "expected_state": after.value(layout.EXPECTED_STATE),
    }


def _diff(before, after, ops, desired, check_mode):
    old, new = {}, {}
    for b, a in zip(before, after):
        for child in desired:
            path = b.target.child(child)
            old[path] = b.value(child)
            new[path] = desired[child] if check_mode else a.value(child)
    return {"before": _render(old), "after": _render(new)}


def _render(values):
    return "".join("%s = %s\n" % (path, "<missing>" if value is None else value) for path, value in sorted(values.items()))
