# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Why a ZooKeeper connection could not be made, in words a user can act on.

kazoo hides the two most common causes behind one "Connection time-out": a TLS handshake that
failed (its connection thread dies on the first ssl.SSLError) and an ensemble without quorum
(a server in read-only mode drops every session that did not ask for read-only). These probes
look at the servers directly, with the same TLS settings the module uses.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import ssl
import threading

try:
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.hosts import collect_hosts
    from kazoo.protocol.states import KeeperState

    START_ERRORS = (KazooException, KazooTimeoutError)
except ImportError:
    collect_hosts = KeeperState = None  # the modules report the missing library first
    START_ERRORS = ()

PROBE_TIMEOUT = 3.0
# ZooKeeper serves clients over TLS from 3.5.5 on (secureClientPort, Netty); 3.4 has no TLS at all.
TLS_SINCE = (3, 5, 5)
_VERSION = re.compile(r"Zookeeper version: (\d+)\.(\d+)\.(\d+)")
_RECEIVED = re.compile(r"^Received: (\d+)", re.MULTILINE)
_MODE = re.compile(r"^Mode: (\S+)", re.MULTILINE)
# ZooKeeper's answer to a four-letter word while it has no quorum or is still starting
NOT_SERVING = "not currently serving requests"
UNREACHABLE = object()  # a probe's answer for a server it could not reach, or that did not answer in time


def endpoints(hosts):
    """(host, port) pairs of a connect string (a trailing chroot is ignored)."""
    found, dummy_chroot = collect_hosts(hosts)
    return found


def server_name(host, port):
    """How the probes and the error messages name a server: "host:port"."""
    return "%s:%s" % (host, port)


def first_in_connect_string(hosts, first):
    """The connect string ``hosts`` with server ``first`` ("host:port") moved to the front."""
    found, chroot = collect_hosts(hosts)
    names = ["[%s]:%s" % (h, p) if ":" in h else "%s:%s" % (h, p) for h, p in found]
    plain = [server_name(h, p) for h, p in found]
    if first in plain:
        names.insert(0, names.pop(plain.index(first)))
    return ",".join(names) + (chroot or "")


def reachable(hosts, timeout=1.0):
    """Whether any server of the connect string accepts a TCP connection."""
    for host, port in endpoints(hosts):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def tls_context(params):
    """An SSL context configured exactly as kazoo configures its own for these options."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    verify = bool(params.get("validate_certs", True))
    # kazoo never checks host names; the certificate chain is what validate_certs controls.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if params.get("ca_path"):
        context.load_verify_locations(params["ca_path"])
    if params.get("client_cert"):
        context.load_cert_chain(certfile=params["client_cert"], keyfile=params.get("client_key"))
    return context


def tls_handshakes(params, listen=False, timeout=PROBE_TIMEOUT, until_success=False):
    """{"host:port": None when the TLS handshake completed, else why it failed}; servers that
    cannot be reached at all are left out (not a TLS problem; the caller reports them as such).

    Every server is probed at once, so a server that hangs costs ``timeout`` once, not once per
    server before it. With ``until_success`` the answer comes as soon as one server completes a
    handshake (the others are not waited for). With ``listen`` the probe also waits briefly after
    the handshake: under TLS 1.3 a server that requires a client certificate only says so (with
    an alert) once the client has finished."""
    context = tls_context(params)
    servers = endpoints(params["hosts"])
    answers = queue.Queue()
    for host, port in servers:
        # daemon threads: a probe still waiting on a silent server never holds up the module's exit
        threading.Thread(target=_probe, args=(context, host, port, listen, timeout, answers), daemon=True).start()
    outcome = {}
    for dummy in servers:
        try:
            name, reason = answers.get(timeout=2 * timeout + 2)
        except queue.Empty:
            break  # each probe is bounded by its own timeouts; this only guards against a lost answer
        if reason is not UNREACHABLE:
            outcome[name] = reason
        if until_success and reason is None:
            break
    order = [server_name(host, port) for host, port in servers]
    return {name: outcome[name] for name in order if name in outcome}


def _probe(context, host, port, listen, timeout, answers):
    reason = None
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as conn:
                if listen:
                    conn.settimeout(min(1.0, timeout))
                    try:
                        if conn.recv(1) == b"":
                            reason = "the server closed the connection right after the TLS handshake"
                    except socket.timeout:
                        pass  # still connected: the server waits for the session request
    except ssl.SSLError as exc:
        reason = "TLS handshake failed: %s" % describe_ssl_error(exc)
    except (OSError, ValueError):
        reason = UNREACHABLE  # refused, timed out, reset, unresolvable: not a TLS problem
    answers.put((server_name(host, port), reason))


def ask(host, port, word=b"srvr", timeout=PROBE_TIMEOUT, context=None, limit=4096):
    """The whole answer of the server at host:port to the four-letter ``word``, as text (at most
    ``limit`` bytes). Raises OSError when it cannot be asked (socket.timeout when it stays silent).
    ``context``: an SSL context for a TLS-only port."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) if context is not None else raw as conn:
            conn.sendall(word)
            data = b""
            while len(data) < limit:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
    return data.decode("ascii", "replace")


def parse_srvr(text):
    """{"version": (major, minor, patch) or None, "received": packets received since the server
    started, or None, "mode": "leader", "follower", "standalone"... or None} from a ``srvr``
    answer, or None for an answer that is not one (a whitelist without srvr, not ZooKeeper)."""
    version, received, mode = _VERSION.search(text), _RECEIVED.search(text), _MODE.search(text)
    if not (version or received or mode):
        return None
    return {"version": tuple(int(part) for part in version.groups()) if version else None,
            "received": int(received.group(1)) if received else None,
            "mode": mode.group(1) if mode else None}


def server_stats(host, port, timeout=PROBE_TIMEOUT, context=None):
    """parse_srvr of the server's answer, or None when it does not answer that way (down, cut
    off, not serving, a whitelist without srvr, not ZooKeeper). 3.4 answers srvr, 3.5+
    whitelists it by default."""
    try:
        return parse_srvr(ask(host, port, b"srvr", timeout, context))
    except (OSError, ValueError):
        return None


def server_version(host, port, timeout=PROBE_TIMEOUT):
    """(major, minor, patch) of the ZooKeeper server at host:port from ``srvr`` over a plain
    connection, or None (see server_stats)."""
    stats = server_stats(host, port, timeout)
    return stats["version"] if stats else None


def too_old_for_tls(params, names, timeout=PROBE_TIMEOUT):
    """{"host:port": "x.y.z"} of the servers among ``names`` whose version cannot serve TLS."""
    out = {}
    for host, port in endpoints(params["hosts"]):
        name = server_name(host, port)
        if name in names:
            version = server_version(host, port, timeout)
            if version is not None and version < TLS_SINCE:
                out[name] = ".".join(str(part) for part in version)
    return out


def tls_failures(params, listen=False, timeout=PROBE_TIMEOUT):
    """{"host:port": reason} for every reachable server whose TLS handshake failed."""
    return {name: reason for name, reason in tls_handshakes(params, listen, timeout).items() if reason}


def describe_ssl_error(exc):
    """OpenSSL's reason code, with what it means for the user where that is not obvious."""
    reason = exc.reason or str(exc)
    if getattr(exc, "verify_message", None):
        return "%s (%s)" % (reason, exc.verify_message)
    if "ALERT" in reason and "CERTIFICATE" in reason:
        return "%s (the server rejected the client certificate, or its absence)" % reason
    return reason


def missing_files(params):
    """Names of the TLS file options that point to no readable file."""
    return ["%s (%s)" % (opt, params[opt]) for opt in ("ca_path", "client_cert", "client_key")
            if params.get(opt) and not os.access(params[opt], os.R_OK)]


def only_read_only_servers(client_factory, timeout=PROBE_TIMEOUT):
    """True when a server accepts a read-only session: the ensemble is up but has no quorum.

    ``client_factory`` builds a KazooClient that asks for read-only sessions."""
    client = client_factory()
    try:
        client.start(timeout=timeout)
    except START_ERRORS:
        return False
    try:
        return client.client_state == KeeperState.CONNECTED_RO
    finally:
        client.stop()
        client.close()
