# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""HAProxy's runtime API over its stats socket (UNIX or TCP): enough to see, from the load
balancer itself, whether a server is in the pool and how many sessions it still holds, to set a
server's administrative state, and to read and set the process-wide new-session rate limit."""

from __future__ import annotations

import csv
import io
import socket

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError, ZdtError


def runtime_api_args():
    """The options every HAProxy module has (doc fragment zerodowntime.cluster.haproxy_runtime), a fresh copy each time."""
    return dict(socket=dict(type="str", required=True), timeout=dict(type="float", default=5.0))


# srv_admin_state of `show servers state` is a bit field (HAProxy's enum srv_admin). A server is
# in maintenance when any of SRV_ADMF_MAINT (FMAINT | IMAINT | RMAINT) is set and draining when
# any of SRV_ADMF_DRAIN (FDRAIN | IDRAIN) is; CMAINT (0x04, `disabled` in the configuration) and
# 0x40 (FQDN changed) only record where a state came from.
ADMF_FMAINT = 0x01  # maintenance forced (`set server ... state maint`, or `disabled`)
ADMF_IMAINT = 0x02  # maintenance inherited from a tracked server
ADMF_FDRAIN = 0x08  # drain forced (`set server ... state drain`)
ADMF_IDRAIN = 0x10  # drain inherited from a tracked server
ADMF_RMAINT = 0x20  # maintenance because DNS resolution failed
MAINT_FLAGS = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT
DRAIN_FLAGS = ADMF_FDRAIN | ADMF_IDRAIN
# Flags that `set server ... state ready|drain|maint` cannot clear.
INHERITED_FLAGS = {ADMF_IMAINT: "maintenance inherited from a tracked server", ADMF_IDRAIN: "drain inherited from a tracked server",
                   ADMF_RMAINT: "maintenance because DNS resolution failed"}
# srv_op_state of `show servers state` (HAProxy's enum srv_state).
OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}


def runtime_command(address, command, timeout=5.0):
    """Send one command and return HAProxy's whole answer as text.

    :param address: a UNIX socket path, or "host:port" for a TCP stats socket.
    :param timeout: seconds allowed for each step (connect, send, every read).
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
    except socket.timeout:
        raise ZdtError("HAProxy runtime API at %s did not answer %r within %ss (timeout)" % (address, command.strip(), timeout),
                       address=address, timeout=timeout)
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
        # "* L7OK": HAProxy prefixes the last result with "* " while the next check is running
        check_status = row.get("check_status") or ""
        checking = check_status.startswith("* ")
        servers.append({
            "name": row.get("svname"),
            "status": (row.get("status") or "").split(" ")[0],
            "current_sessions": int(row.get("scur") or 0),
            "total_sessions": int(row.get("stot") or 0),
            "weight": int(row.get("weight") or 0),
            "check_status": check_status[2:] if checking else (check_status or None),
            "check_in_progress": checking,
            "last_change_s": int(row.get("lastchg") or 0) if (row.get("lastchg") or "").isdigit() else None,
        })
    if backend not in backends:
        raise ZdtError("HAProxy at %s has no backend %r (backends: %s)" % (address, backend, ", ".join(sorted(b for b in backends if b))),
                       address=address)
    return servers


def parse_servers_state(text):
    """``show servers state`` (format version 1) -> {server name: {op_state, admin_flags, uweight, iweight}}."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# "):
        raise ValueError("not a 'show servers state' answer (format 1): %s" % text.strip()[:200])
    header = lines[1][2:].split()
    servers = {}
    for line in lines[2:]:
        row = dict(zip(header, line.split()))
        servers[row["srv_name"]] = {
            "op_state": int(row["srv_op_state"]),
            "admin_flags": int(row["srv_admin_state"]),
            "uweight": int(row["srv_uweight"]),
            "iweight": int(row["srv_iweight"]),
        }
    return servers


def servers_state(address, backend, timeout=5.0):
    """The operational state, administrative flags and weights of the servers of ``backend``."""
    text = runtime_command(address, "show servers state %s" % backend, timeout)
    try:
        return parse_servers_state(text)
    except (ValueError, KeyError):
        raise ZdtError("HAProxy at %s did not answer 'show servers state %s': %s" % (address, backend, text.strip()[:200]),
                       address=address)


def admin_state(flags):
    """The administrative state HAProxy records in srv_admin_state: maint, drain or ready."""
    if flags & MAINT_FLAGS:
        return "maint"
    if flags & DRAIN_FLAGS:
        return "drain"
    return "ready"


def in_state(server, desired):
    """Whether ``server`` (see server_view) already is in the ``desired`` state.

    A server whose health checks fail (operationally stopped, status DOWN) with weight 0 is out of
    rotation anyway and counts as drained; HAProxy shows a drained server that is DOWN as DOWN, not
    DRAIN, so the drain flag is read from srv_admin_state."""
    current = admin_state(server["admin_flags"])
    if desired == "drain" and current == "ready":
        return server["op_state"] == 0 and server["weight"] == 0
    return current == desired


def server_view(address, backend, server, timeout=5.0):
    """One server as ``show stat`` and ``show servers state`` describe it."""
    stat = [s for s in backend_servers(address, backend, timeout) if s["name"] == server]
    if not stat:
        raise ZdtError("backend %s has no server %s" % (backend, server), address=address)
    state = servers_state(address, backend, timeout).get(server)
    if state is None:
        raise ZdtError("backend %s has no server %s in 'show servers state'" % (backend, server), address=address)
    view = dict(stat[0])
    view.update(state)
    view["op_state_name"] = OP_STATES.get(view["op_state"], str(view["op_state"]))
    view["admin_state"] = admin_state(view["admin_flags"])
    return view


def _timeout(params):
    timeout = params.get("timeout")
    if timeout is None:
        return 5.0
    if timeout <= 0:
        raise ValidationError("timeout must be a positive number of seconds, got %s" % timeout)
    return timeout


def process_info(address, timeout=5.0):
    """``show info`` as {field: text}."""
    text = runtime_command(address, "show info", timeout)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    if "SessRateLimit" not in fields:
        raise ZdtError("HAProxy at %s did not answer 'show info': %s" % (address, text.strip()[:200]), address=address)
    return fields


def session_rate_limit(address, timeout=5.0):
    """The process-wide limit of new sessions per second (global ``maxsessrate``; 0: none)."""
    return int(process_info(address, timeout)["SessRateLimit"])


def backend_info(params):
    """The haproxy_backend_info module's work."""
    timeout = _timeout(params)
    servers = backend_servers(params["socket"], params["backend"], timeout)
    return {"changed": False, "servers": servers, "by_name": {s["name"]: s for s in servers},
            "session_rate_limit": session_rate_limit(params["socket"], timeout)}


def set_session_rate_limit(params, check_mode=False):
    """The haproxy_rate_limit module's work: the process-wide new-session rate limit to ``params["sessions"]``."""
    address, desired = params["socket"], params["sessions"]
    if desired < 0:
        raise ValidationError("sessions must be 0 (no limit) or a positive number of new sessions per second, got %d" % desired)
    timeout = _timeout(params)
    before = session_rate_limit(address, timeout)
    changed = before != desired
    after = before
    if changed and not check_mode:
        command = "set rate-limit sessions global %d" % desired
        answer = runtime_command(address, command, timeout).strip()
        if answer:
            raise ZdtError("HAProxy refused '%s': %s" % (command, answer), address=address, before=before)
        after = session_rate_limit(address, timeout)
        if after != desired:
            raise ZdtError("HAProxy accepted '%s' but its session rate limit is %d" % (command, after), address=address, before=before)
    predicted = desired if check_mode else after
    return {"changed": changed, "before": before, "sessions": predicted,
            "diff": {"before": {"sessions": before}, "after": {"sessions": predicted}}}


def set_server_state(params, check_mode=False):
    """The haproxy_server module's work: bring one server to ``params["state"]`` and return the result."""
    address, backend, server, desired = params["socket"], params["backend"], params["server"], params["state"]
    timeout = _timeout(params)
    before = server_view(address, backend, server, timeout)
    changed = not in_state(before, desired)
    after = before
    if changed and not check_mode:
        command = "set server %s/%s state %s" % (backend, server, desired)
        answer = runtime_command(address, command, timeout).strip()
        if answer:
            raise ZdtError("HAProxy refused '%s': %s" % (command, answer), address=address, before=before["status"])
        after = server_view(address, backend, server, timeout)
        if not in_state(after, desired):
            kept = [why for flag, why in sorted(INHERITED_FLAGS.items()) if after["admin_flags"] & flag]
            raise ZdtError("HAProxy accepted '%s' but %s/%s is still in %s (srv_admin_state %d%s)" % (
                command, backend, server, after["admin_state"], after["admin_flags"], (": " + ", ".join(kept)) if kept else ""),
                address=address, before=before["status"], status=after["status"], admin_state=after["admin_state"])
    predicted = desired if changed and check_mode else after["admin_state"]
    return {
        "changed": changed,
        "before": before["status"],
        "status": after["status"],
        "admin_state": predicted,
        "weight": after["weight"],
        "diff": {"before": {"state": before["admin_state"]}, "after": {"state": predicted}},
    }
