# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Connection options shared by the Kilda modules and the kazoo client built from them."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError

try:
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.retry import KazooRetry, RetryFailedError

    # Exception types a module turns into a clean failure.
    KAZOO_ERRORS = (KazooException, RetryFailedError, KazooTimeoutError)
except ImportError:
    KAZOO_ERRORS = ()
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


def client_kwargs(params, read_only=False):
    """KazooClient keyword arguments from module parameters (no network)."""
    kwargs = dict(
        hosts=params["hosts"],
        timeout=float(params.get("session_timeout") or 10.0),
        read_only=bool(read_only),
        # Reconnect through a leader election instead of failing the task: an election after a
        # leader dies takes about a second, and the deadline of the task still bounds the wait.
        connection_retry=dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0),
        command_retry=dict(max_tries=20, delay=0.1, backoff=1.5, max_delay=1.0, deadline=float(params.get("connect_timeout") or 10.0)),
    )
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


def connect(params, read_only=False):
    """Started KazooClient, or ZdtError naming the hosts when no server answered in time."""
    kwargs = client_kwargs(params, read_only)
    kwargs["connection_retry"] = KazooRetry(**kwargs["connection_retry"])
    kwargs["command_retry"] = KazooRetry(**kwargs["command_retry"])
    client = KazooClient(**kwargs)
    try:
        client.start(timeout=float(params.get("connect_timeout") or 10.0))
    except KazooTimeoutError:
        client.stop()
        client.close()
        raise ZdtError("could not connect to ZooKeeper at %s within %ss" % (params["hosts"], params.get("connect_timeout")),
                       hosts=params["hosts"])
    return client


def zookeeper_error(exc, hosts):
    """A ZdtError for anything kazoo raised that the services did not handle themselves."""
    return ZdtError("ZooKeeper request failed: %s%s" % (type(exc).__name__, (": %s" % exc) if str(exc) else ""),
                    hosts=hosts, error=type(exc).__name__)


def close(client):
    try:
        client.stop()
    finally:
        client.close()
