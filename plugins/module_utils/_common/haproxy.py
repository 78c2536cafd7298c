# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""HAProxy's runtime API over its stats socket (UNIX or TCP): enough to see, from the load
balancer itself, whether a server is in the pool and how many sessions it still holds."""

from __future__ import annotations

import csv
import io
import socket

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError


def runtime_command(address, command, timeout=5.0):
    """Send one command and return HAProxy's whole answer as text.

    :param address: a UNIX socket path, or "host:port" for a TCP stats socket.
    """
    if address.startswith("/") or address.startswith("."):
        family, target = socket.AF_UNIX, address
    else:
        host, _sep, port = address.rpartition(":")
        family, target = socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            sock.sendall(command.strip().encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise ZdtError("HAProxy runtime API at %s: %s" % (address, exc), address=address)
    return b"".join(chunks).decode("utf-8", "replace")


def backend_servers(address, backend, timeout=5.0):
    """The servers of ``backend`` from ``show stat``: name, status (UP, DOWN, DRAIN, MAINT, ...),
    current and total sessions, check status."""
    text = runtime_command(address, "show stat", timeout)
    if not text.startswith("# "):
        raise ZdtError("HAProxy at %s did not answer 'show stat': %s" % (address, text.strip()[:200]), address=address)
    rows = csv.DictReader(io.StringIO(text[2:]))
    servers = []
    backends = set()
    for row in rows:
        backends.add(row.get("pxname"))
        if row.get("pxname") != backend or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        servers.append({
            "name": row.get("svname"),
            "status": (row.get("status") or "").split(" ")[0],
            "current_sessions": int(row.get("scur") or 0),
            "total_sessions": int(row.get("stot") or 0),
            "weight": int(row.get("weight") or 0),
            "check_status": row.get("check_status"),
            "last_change_s": int(row.get("lastchg") or 0) if (row.get("lastchg") or "").isdigit() else None,
        })
    if backend not in backends:
        raise ZdtError("HAProxy at %s has no backend %r (backends: %s)" % (address, backend, ", ".join(sorted(b for b in backends if b))),
                       address=address)
    return servers
