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
import socket
import ssl

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


def endpoints(hosts):
    """(host, port) pairs of a connect string (a trailing chroot is ignored)."""
    found, dummy_chroot = collect_hosts(hosts)
    return found


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


def tls_failures(params, listen=False, timeout=PROBE_TIMEOUT, until_success=False):
    """{"host:port": reason} for every server whose TLS handshake failed.

    With ``listen`` the probe also waits briefly after the handshake: under TLS 1.3 a server that
    requires a client certificate only says so (with an alert) once the client has finished.
    With ``until_success`` it stops at the first server that completes a handshake."""
    context = tls_context(params)
    failures = {}
    for host, port in endpoints(params["hosts"]):
        name = "%s:%s" % (host, port)
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw:
                with context.wrap_socket(raw, server_hostname=host) as conn:
                    if listen:
                        conn.settimeout(min(1.0, timeout))
                        try:
                            if conn.recv(1) == b"":
                                failures[name] = "the server closed the connection right after the TLS handshake"
                        except socket.timeout:
                            pass  # still connected: the server waits for the session request
                    if until_success and name not in failures:
                        break
        except ssl.SSLError as exc:
            failures[name] = "TLS handshake failed: %s" % describe_ssl_error(exc)
        except (OSError, ValueError):
            continue  # unreachable, not a TLS problem; the caller reports it as such
    return failures


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
