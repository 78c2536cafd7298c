# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of an EMQX management listener, for example V(http://emqx-1:18083) (EMQX 5 dashboard listener)
        or V(http://emqx-1:8081) (EMQX 4.4 management API). Any running node of the cluster will do.
      - Falls back to the E(EMQX_API_URL) environment variable.
    type: str
    required: true
  api_version:
    description:
      - Which management API to speak. V(auto) detects it (a dashboard login means V(v5), an AppID means V(v4),
        an API key is tried on C(/api/v5) first) and the result is returned as RV(api_version).
      - Falls back to E(EMQX_API_VERSION).
    type: str
    choices: [auto, v5, v4]
    default: auto
  api_key:
    description:
      - EMQX 5 API key, sent as the HTTP Basic user name. Also accepted by EMQX 4.4 as an AppID.
      - Falls back to E(EMQX_API_KEY).
    type: str
  api_secret:
    description:
      - Secret of O(api_key). Falls back to E(EMQX_API_SECRET).
    type: str
  username:
    description:
      - EMQX 5 dashboard user; the module logs in with C(POST /api/v5/login) and uses the Bearer token it gets.
      - Falls back to E(EMQX_USERNAME).
    type: str
  password:
    description:
      - Password of O(username). Falls back to E(EMQX_PASSWORD).
    type: str
  app_id:
    description:
      - EMQX 4.4 AppID for HTTP Basic authentication. Falls back to E(EMQX_APP_ID).
    type: str
  app_secret:
    description:
      - EMQX 4.4 AppSecret. Falls back to E(EMQX_APP_SECRET).
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for throw-away test clusters.
      - Falls back to E(EMQX_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of certificate authorities to trust instead of the system store. Falls back to E(EMQX_CA_PATH).
    type: path
  client_cert:
    description:
      - PEM client certificate for mutual TLS. Falls back to E(EMQX_CLIENT_CERT).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert). Falls back to E(EMQX_CLIENT_KEY).
    type: path
  request_timeout:
    description:
      - Seconds allowed for one HTTP request. EMQX forwards operations to the target node with a 15 second RPC
        timeout, so keep this above 15. Falls back to E(EMQX_REQUEST_TIMEOUT).
    type: float
    default: 30.0
notes:
  - Give exactly one kind of credential - O(api_key)/O(api_secret), O(username)/O(password), or O(app_id)/O(app_secret).
  - Requests that read are retried on connection errors and HTTP 502/503/504; requests that change something are
    retried only when the connection was never established, so an operation is never sent twice.
  - Rebalance and evacuation are EMQX Enterprise features (Enterprise 4.4.12 and later, 5.0.4 and later).
requirements:
  - httpx >= 0.24
"""

    # Module groups: set connection options once for all EMQX modules with
    # module_defaults: {group/zerodowntime.cluster.emqx: {...}}
    ACTIONGROUP_EMQX = r"""
attributes:
  action_group:
    description: Use C(group/zerodowntime.cluster.emqx) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - zerodowntime.cluster.emqx
"""
