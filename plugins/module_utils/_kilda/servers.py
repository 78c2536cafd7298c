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


def look(host, port, timeout=LOOK_TIMEOUT, context=None):
    """One look at a server: its srvr answer (diagnose.parse_srvr), DOWN, SILENT, or None when it
    answers but not to srvr."""
    try:
        text = diagnose.ask_srvr(host, port, timeout, context)
    except socket.timeout:
        return SILENT
    except (OSError, ValueError):
        return DOWN
    if diagnose.NOT_SERVING in text:
        return DOWN
    return diagnose.parse_srvr(text)


class ServerWatch:
    """Looks at every server of ``params["hosts"]`` in a thread of its own until the ``with``
    block ends, and calls ``on_gone(server, why, at)`` once per loss: "host:port", what happened in
    words, and the ``clock()`` time its clients lost their connections (see the module doc)."""

    def __init__(self, params, on_gone, silent_for, clock=time.monotonic, every=LOOK_EVERY, looker=look):
        self.servers = diagnose.endpoints(params["hosts"])
        self.context = diagnose.tls_context(params) if params.get("use_tls") else None
        self.on_gone = on_gone
        self.silent_for = silent_for
        self.clock = clock
        self.every = every
        self.looker = looker
        self.last = {}  # server: its last srvr answer while serving
        self.failing = {}  # server: [failed looks in a row, clock time of the first, refused or not serving]
        self.gone = set()
        self._stop = threading.Event()

    def __enter__(self):
        # daemon: a look still waiting on a silent server never holds up the module's exit
        threading.Thread(target=self._run, daemon=True, name="zookeeper-servers").start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    def _run(self):
        while not self._stop.is_set():
            for host, port in self.servers:
                if self._stop.is_set():
                    return
                self.observe(diagnose.server_name(host, port), self.looker(host, port, LOOK_TIMEOUT, self.context))
            self._stop.wait(self.every)

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
