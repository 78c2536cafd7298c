# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Connection options shared by the Kilda modules and the kazoo client built from them."""

from __future__ import annotations

import ssl
import traceback


from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import diagnose

try:
    from kazoo.client import KazooClient
    from kazoo.exceptions import AuthFailedError, KazooException, NoAuthError
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.protocol.states import KeeperState
    from kazoo.retry import KazooRetry, RetryFailedError

    # Exception types a module turns into a clean failure.
    KAZOO_ERRORS = (KazooException, RetryFailedError, KazooTimeoutError)
except ImportError:
    KAZOO_ERRORS = ()
    NoAuthError = AuthFailedError = None
    HAS_KAZOO = False
    KAZOO_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KAZOO = True
    KAZOO_IMPORT_ERROR = None

CONNECTION_ARGS = dict(
    hosts=dict(type="str", required=True, fallback=(env_fallback, ["KILDA_ZK_HOSTS"])),
    prefix=dict(type="str", default="/kilda", fallback=(env_fallback, ["KILDA_ZK_PREFIX"])),
    connect_timeout=dict(type="float", default=10.0, fallback=(env_fallback, ["KILDA_ZK_CONNECT_TIMEOUT"])),
    session_timeout=dict(type="float", default=10.0, fallback=(env_fallback, ["KILDA_ZK_SESSION_TIMEOUT"])),
    username=dict(type="str", fallback=(env_fallback, ["KILDA_ZK_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["KILDA_ZK_PASSWORD"])),
    use_tls=dict(type="bool", default=False, fallback=(env_fallback, ["KILDA_ZK_USE_TLS"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["KILDA_ZK_VALIDATE_CERTS"])),
    ca_path=dict(type="path", fallback=(env_fallback, ["KILDA_ZK_CA_PATH"])),
    client_cert=dict(type="path", fallback=(env_fallback, ["KILDA_ZK_CLIENT_CERT"])),
    client_key=dict(type="path", no_log=False, fallback=(env_fallback, ["KILDA_ZK_CLIENT_KEY"])),
)
CONNECTION_REQUIRED_TOGETHER = [("username", "password"), ("client_cert", "client_key")]


def client_kwargs(params, read_only=False, first=None):
    """KazooClient keyword arguments from module parameters (no network). ``first`` ("host:port")
    is tried first instead of a random server."""
    kwargs = dict(
        hosts=params["hosts"],
        timeout=float(params.get("session_timeout") or 10.0),
        read_only=bool(read_only),
        # Reconnect through a leader election instead of failing the task: an election after a
        # leader dies takes about a second, and the deadline of the task still bounds the wait.
        connection_retry=dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0),
        command_retry=dict(max_tries=20, delay=0.1, backoff=1.5, max_delay=1.0, deadline=float(params.get("connect_timeout") or 10.0)),
    )
    if first:
        kwargs.update(hosts=diagnose.first_in_connect_string(params["hosts"], first), randomize_hosts=False)
    if params.get("username"):
        kwargs["auth_data"] = [("digest", "%s:%s" % (params["username"], params.get("password") or ""))]
    if params.get("use_tls"):
        kwargs.update(use_ssl=True, verify_certs=bool(params.get("validate_certs", True)))
        if params.get("ca_path"):
            kwargs["ca"] = params["ca_path"]
        if params.get("client_cert"):
            kwargs["certfile"] = params["client_cert"]
            kwargs["keyfile"] = params.get("client_key")
    return kwargs


def _client(params, read_only, first=None):
    kwargs = client_kwargs(params, read_only, first)
    kwargs["connection_retry"] = KazooRetry(**kwargs["connection_retry"])
    kwargs["command_retry"] = KazooRetry(**kwargs["command_retry"])
    return KazooClient(**kwargs)


def connect(params, read_only=False):
    """Started KazooClient, or ZdtError saying why no server could be used."""
    # A server that accepts TCP but never answers TLS (hung, or frozen) holds kazoo in its handshake
    # for the whole session timeout; start where a handshake just worked instead.
    first = check_tls(params) if params.get("use_tls") else None
    client = _client(params, read_only, first)
    try:
        client.start(timeout=float(params.get("connect_timeout") or 10.0))
    except KazooTimeoutError:
        close(client)
        raise unreachable_error(params, read_only)
    return client


def with_client(params, action, read_only=False):
    """``action(client)`` on a started client that is always closed afterwards; what kazoo raises
    and the services did not handle becomes a ZdtError (see zookeeper_error)."""
    client = None
    try:
        client = connect(params, read_only=read_only)
        return action(client)
    except KAZOO_ERRORS as exc:
        raise zookeeper_error(exc, params) from exc
    finally:
        if client is not None:
            close(client)


def check_tls(params):
    """The first server ("host:port") that completed a TLS handshake (None when none could be
    reached at all); fails at once, saying why, when every server that answered refused these
    options (kazoo's connection thread dies silently on the first failed handshake)."""
    hosts = params["hosts"]
    missing = diagnose.missing_files(params)
    if missing:
        raise ZdtError("cannot read the TLS file(s) %s" % ", ".join(missing), hosts=hosts, error="TLSError")
    try:
        diagnose.tls_context(params)
    except (OSError, ssl.SSLError) as exc:
        raise ZdtError("cannot use the TLS files (ca_path, client_cert, client_key): %s" % exc, hosts=hosts,
                       error="TLSError")
    timeout = min(diagnose.PROBE_TIMEOUT, float(params.get("connect_timeout") or 10.0))
    # One good handshake is enough to go on. Without one, a single failed handshake is fatal even
    # when the other servers are only unreachable: kazoo's connection thread dies on it.
    handshakes = diagnose.tls_handshakes(params, timeout=timeout, until_success=True)
    if None not in handshakes.values():
        # A 3.4 server closes the connection on a TLS hello, which looks like no answer at all.
        old = diagnose.too_old_for_tls(params, [diagnose.server_name(h, p) for h, p in diagnose.endpoints(hosts)],
                                       timeout=timeout)
        if old:
            raise ZdtError("ZooKeeper %s cannot serve TLS: TLS needs ZooKeeper %s or later (Open Kilda's own image ships "
                           "3.4.9). Set use_tls: false for this ensemble, or upgrade it and connect to its secureClientPort"
                           % (", ".join("%s at %s" % (v, n) for n, v in sorted(old.items())), ".".join(map(str, diagnose.TLS_SINCE))),
                           hosts=hosts, error="TLSUnsupported", server_versions=old)
    if handshakes and None not in handshakes.values():
        raise _tls_error(params, handshakes)
    return next((name for name, reason in handshakes.items() if reason is None), None)


def unreachable_error(params, read_only):
    hosts = params["hosts"]
    if params.get("use_tls"):
        failures = diagnose.tls_failures(params, listen=True)
        if failures:
            return _tls_error(params, failures)
    if not read_only and diagnose.reachable(hosts) and diagnose.only_read_only_servers(lambda: _client(params, True)):
        return ZdtError("ZooKeeper at %s has no quorum: its servers only serve read-only sessions, so nothing can be "
                        "written until a majority of the ensemble is back (reads work with read_only: true)" % hosts,
                        hosts=hosts, error="NoQuorum")
    return ZdtError("could not connect to ZooKeeper at %s within %ss" % (hosts, params.get("connect_timeout")), hosts=hosts)


def _tls_error(params, failures):
    detail = "; ".join("%s: %s" % item for item in sorted(failures.items()))
    hints = []
    if params.get("validate_certs", True):
        hints.append("the server certificate must be signed by %s" % (
            "the CA in ca_path (%s)" % params["ca_path"] if params.get("ca_path") else "a CA the system trusts (or set ca_path)"))
    if params.get("client_cert"):
        hints.append("the server must trust the CA that signed client_cert (%s)" % params["client_cert"])
    else:
        hints.append("servers with ssl.clientAuth=need also require client_cert and client_key")
    return ZdtError("TLS connection to ZooKeeper failed: %s. Hints: %s" % (detail, "; ".join(hints)),
                    hosts=params["hosts"], error="TLSError", tls_failures=failures)


def is_read_only(client):
    """Whether the session is served by a server without quorum (values may be stale)."""
    return client.client_state == KeeperState.CONNECTED_RO


def zookeeper_error(exc, params):
    """A ZdtError for anything kazoo raised that the services did not handle themselves."""
    hosts = params["hosts"]
    if NoAuthError is not None and isinstance(exc, NoAuthError):
        if params.get("username"):
            who = "the digest credentials of user %r are wrong or that user lacks the permission" % params["username"]
        else:
            who = "no credentials were given (set username and password, or KILDA_ZK_USERNAME/KILDA_ZK_PASSWORD)"
        return ZdtError("ZooKeeper refused access (NoAuth) under %s: the nodes' ACL does not grant this client; %s"
                        % (params.get("prefix"), who), hosts=hosts, error="NoAuthError", username=params.get("username"))
    if AuthFailedError is not None and isinstance(exc, AuthFailedError):
        return ZdtError("ZooKeeper rejected the authentication (AuthFailed) of user %r" % params.get("username"),
                        hosts=hosts, error="AuthFailedError", username=params.get("username"))
    return ZdtError("ZooKeeper request failed: %s%s" % (type(exc).__name__, (": %s" % exc) if str(exc) else ""),
                    hosts=hosts, error=type(exc).__name__)


def close(client):
    try:
        client.stop()
    finally:
        client.close()
