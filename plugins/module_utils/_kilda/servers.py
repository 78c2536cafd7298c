# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Which ZooKeeper servers went away while a wait ran.

Each Kilda component talks to one server of the ensemble. When that server dies, restarts or is
cut off, the component's connection drops, and a ``state`` write of that moment is lost for good
(ZkWriter.setData fails, ZooKeeperBolt.handleInput only logs it). Nothing in ZooKeeper's data
records that, and this module's own connection may sit on another server and never notice. So
the wait asks every server of the connect string with ``srvr`` whether it still serves.

What counts as a server gone, and when its clients lost their connections:
- it refuses or resets the connection, or says it is not serving (it lost its quorum, or is
  starting): its clients were dropped at once. Two such looks in a row count, so one failed
  connection is no evidence on its own.
- it stays silent: its clients notice only when their reads time out, two thirds of their
  session timeout later (a partition, or a server frozen); before that, nobody was dropped. So
  silence counts once it lasted ``silent_for`` (the components' read timeout).
- it answers with its packet counter lower than before: it restarted between two looks.
A server that never answered srvr (down from the start, a 3.5+ whitelist without srvr, a
firewall between the controller and it) gives no evidence either way.

A component can also lose its connection while every server keeps serving: only its own link to
its server broke. The one trace of that is in the servers' watch tables. Every Kilda component
keeps a data watch on its ``signal`` node (ZkWatchDog.java registers itself as the watcher of
getData), held by its session on the server it is connected to. After a drop it reconnects to
another server, with a new session (Kilda's ZkClient closes the old one) or with the same one;
either way the watch is then held by a session, or on a server, not seen before (WatchMoves).
``wchp`` lists those watches; 3.5+ answers it only when ``4lw.commands.whitelist`` has it.
"""

from __future__ import annotations

import socket
import threading
import time

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import diagnose

LOOK_EVERY = 1.0  # seconds between two looks at the same server
LOOK_TIMEOUT = 2.0  # a server that takes longer to answer srvr is silent this time
FAILED_LOOKS = 2  # refusals in a row before a server counts as gone (one can be a hiccup)
DOWN = "down"  # a look's outcome: refused, reset, or not serving
SILENT = "silent"  # a look's outcome: no answer within LOOK_TIMEOUT
# seconds between two rounds of wchp: it lists every data watch a server holds, so not at every look
WATCHES_EVERY = 2.0
WATCHES_LIMIT = 8 * 1024 * 1024  # bytes of one wchp answer read at most


def look(host, port, timeout=LOOK_TIMEOUT, context=None):
    """One look at a server: its srvr answer (diagnose.parse_srvr), DOWN, SILENT, or None when it
    answers but not to srvr."""
    try:
        text = diagnose.ask(host, port, b"srvr", timeout, context)
    except socket.timeout:
        return SILENT
    except (OSError, ValueError):
        return DOWN
    if diagnose.NOT_SERVING in text:
        return DOWN
    return diagnose.parse_srvr(text)


def parse_wchp(text):
    """{path: [session id, ...]} (ids as "0x..." text) from a ``wchp`` answer, or None for an answer
    that is not one (a whitelist without wchp)."""
    holders = {}
    path = None
    for line in text.splitlines():
        if line.startswith("/"):
            path = line.strip()
            holders.setdefault(path, [])
        elif line.strip().startswith("0x") and path is not None:
            holders[path].append(line.strip())
        elif line.strip():
            return None
    return holders


def watch_holders(endpoints, paths, context=None, asker=diagnose.ask):
    """{path: {(server, session)}} of the data watches on ``paths``, from every server of
    ``endpoints`` that answers wchp now (a path no answering server watches is left out)."""
    holders = {}
    for host, port in endpoints:
        try:
            answer = parse_wchp(asker(host, port, b"wchp", LOOK_TIMEOUT, context, WATCHES_LIMIT))
        except (OSError, ValueError):
            continue
        for path, sessions in (answer or {}).items():
            if path in paths:
                holders.setdefault(path, set()).update((diagnose.server_name(host, port), s) for s in sessions)
    return holders


def four_letter_context(params):
    """The SSL context for asking the servers four-letter words with the module's connection options, or None."""
    return diagnose.tls_context(params) if params.get("use_tls") else None


def holders_now(params, paths):
    """watch_holders of ``paths`` on the servers of ``params["hosts"]`` (the module's connection options)."""
    return watch_holders(diagnose.endpoints(params["hosts"]), paths, four_letter_context(params))


class WatchMoves:
    """Which watched paths changed hands: a session not seen on the path before (while one was), or
    a known session now on another server than where it was last seen. A watch missing from one
    round (fired and not yet set again) is no move."""

    def __init__(self, labels, baseline=None):
        self.labels = labels  # path: what to call its watcher (a component's key)
        self.where = {}  # path: {session: server last seen holding the watch}
        self.last = {}  # path: the holders of the last round that found any (what a move is "from")
        self.observe(baseline or {})

    def observe(self, holders):
        """[(label, what happened in words)] for every path of ``labels`` whose watch moved."""
        moves = []
        for path, pairs in holders.items():
            if path not in self.labels:
                continue
            seen = self.where.setdefault(path, {})
            moved = [(server, session) for server, session in sorted(pairs) if seen and seen.get(session) != server]
            if moved:
                before = ", ".join("session %s on %s" % (session, server) for server, session in sorted(self.last[path]))
                after = ", ".join("session %s on %s" % (session, server) for server, session in moved)
                moves.append((self.labels[path], "its watch on signal moved from %s to %s" % (before, after)))
            for server, session in pairs:
                seen[session] = server
            if pairs:
                self.last[path] = set(pairs)
        return moves


class ServerWatch:
    """Looks at every server of ``params["hosts"]`` in a thread of its own until the ``with``
    block ends, and calls ``on_gone(server, why, at)`` once per loss: "host:port", what happened in
    words, and the ``clock()`` time its clients lost their connections (see the module doc). With
    ``moves`` (WatchMoves), it also asks every server with wchp every WATCHES_EVERY seconds and calls
    ``on_moved(label, why, at)`` for each watch that changed hands."""

    def __init__(self, params, on_gone, silent_for, clock=time.monotonic, every=LOOK_EVERY, looker=look,
                 moves=None, on_moved=None, asker=diagnose.ask):
        self.servers = diagnose.endpoints(params["hosts"])
        self.context = four_letter_context(params)
        self.on_gone = on_gone
        self.silent_for = silent_for
        self.clock = clock
        self.every = every
        self.looker = looker
        self.last = {}  # server: its last srvr answer while serving
        self.failing = {}  # server: [failed looks in a row, clock time of the first, refused or not serving]
        self.gone = set()
        # WatchMoves of the components' signal watches, and on_moved(label, why, at) for each move
        self.moves = moves
        self.on_moved = on_moved
        self.asker = asker
        self._stop = threading.Event()

    def __enter__(self):
        # daemon: a look still waiting on a silent server never holds up the module's exit
        threading.Thread(target=self._run, daemon=True, name="zookeeper-servers").start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    def _run(self):
        watches_due = time.monotonic()
        while not self._stop.is_set():
            for host, port in self.servers:
                if self._stop.is_set():
                    return
                self.observe(diagnose.server_name(host, port), self.looker(host, port, LOOK_TIMEOUT, self.context))
            if self.moves is not None and not self._stop.is_set() and time.monotonic() >= watches_due:
                watches_due = time.monotonic() + WATCHES_EVERY
                self.observe_watches(watch_holders(self.servers, self.moves.labels, self.context, self.asker))
            self._stop.wait(self.every)

    def observe_watches(self, holders):
        """One round of watch_holders: on_moved for each move."""
        now = self.clock()
        for label, why in self.moves.observe(holders):
            self.on_moved(label, why, now)

    def observe(self, name, outcome):
        """One look's ``outcome`` (see look) at server ``name``."""
        now = self.clock()
        if outcome is None:
            return
        if outcome in (DOWN, SILENT):
            if name not in self.last or name in self.gone:
                return
            streak = self.failing.setdefault(name, [0, now, False])
            streak[0] += 1
            streak[2] = streak[2] or outcome == DOWN
            refused = streak[2] and streak[0] >= FAILED_LOOKS
            if refused or now - streak[1] >= self.silent_for:
                self.gone.add(name)
                self.on_gone(name, "stopped serving" if refused else "went silent", streak[1])
            return
        self.failing.pop(name, None)
        before = self.last.get(name)
        self.last[name] = outcome
        if name in self.gone:
            self.gone.discard(name)  # back: its loss was reported when it went
            return
        if before and None not in (before["received"], outcome["received"]) and outcome["received"] < before["received"]:
            self.on_gone(name, "restarted", now)
