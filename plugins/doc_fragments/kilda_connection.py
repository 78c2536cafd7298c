# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  hosts:
    description:
      - ZooKeeper connect string of the ensemble Kilda uses, C(host:port[,host:port...]), without a chroot.
      - Falls back to the E(KILDA_ZK_HOSTS) environment variable.
    type: str
    required: true
  prefix:
    description:
      - Kilda's chroot (C(kilda_zookeeper_state_root)); every path is C(<prefix>/<component>/<env>/<child>).
      - Kilda never creates the chroot itself; it must exist, unless M(zerodowntime.cluster.kilda_zk_signal) creates it with C(create_missing=true).
      - Falls back to E(KILDA_ZK_PREFIX).
    type: str
    default: /kilda
  connect_timeout:
    description:
      - Seconds to wait for the first connection, and the bound of each retried ZooKeeper request.
      - Falls back to E(KILDA_ZK_CONNECT_TIMEOUT).
    type: float
    default: 10.0
  session_timeout:
    description:
      - Requested ZooKeeper session timeout in seconds (the server clamps it to its own limits).
      - Falls back to E(KILDA_ZK_SESSION_TIMEOUT).
    type: float
    default: 10.0
  username:
    description:
      - User for ZooKeeper C(digest) authentication. Stock Kilda uses no authentication; set this only
        when the ensemble was secured separately.
      - A wrong password is not refused at login (ZooKeeper treats it as another identity); requests on nodes whose
        ACL does not grant that identity fail with C(NoAuth), before anything is written.
      - Falls back to E(KILDA_ZK_USERNAME).
    type: str
  password:
    description:
      - Password for C(digest) authentication, required with O(username).
      - Falls back to E(KILDA_ZK_PASSWORD).
    type: str
  use_tls:
    description:
      - Connect with TLS (ZooKeeper C(secureClientPort)); O(hosts) must list the servers' secure ports.
      - The TLS handshake is tried with every server at once before connecting, so a certificate problem fails
        at once with the reason OpenSSL gives instead of a connection time-out, and the session starts on the
        first server that completed a handshake (a server that hangs costs at most 3 seconds).
      - Falls back to E(KILDA_ZK_USE_TLS).
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the server certificate chain when O(use_tls=true). Host names are not checked.
      - Falls back to E(KILDA_ZK_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) used to verify the server certificate.
      - Falls back to E(KILDA_ZK_CA_PATH).
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for mutual TLS; requires O(client_key).
      - Falls back to E(KILDA_ZK_CLIENT_CERT).
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
      - Falls back to E(KILDA_ZK_CLIENT_KEY).
    type: path
"""

    # Module group: set connection options once for the ZooKeeper modules with
    # module_defaults: {group/zerodowntime.cluster.kilda: {...}}
    ACTIONGROUP_KILDA = r"""
attributes:
  action_group:
    description: Use C(group/zerodowntime.cluster.kilda) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - zerodowntime.cluster.kilda
"""
