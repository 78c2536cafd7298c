# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of a node of the B(green) (destination) node group, for example C(https://green1:8000).
        Migration tasks are created and read there.
      - If not set, the value of the E(XENON_URL) environment variable is used.
    type: str
    required: true
  username:
    description:
      - User for C(/core/authn/basic). When set, the module logs in once and sends the returned
        C(x-xenon-auth-token) on every request, to green and to blue.
      - The same user selfLink must exist in both node groups (Xenon side-by-side wiki).
      - If not set, the value of the E(XENON_USERNAME) environment variable is used.
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, the value of the E(XENON_PASSWORD) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify TLS certificates of every node. Turn off only for test clusters.
      - If not set, the value of the E(XENON_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of the CA that signed the nodes' certificates.
      - If not set, the value of the E(XENON_CA_PATH) environment variable is used.
    type: path
  request_timeout:
    description:
      - Seconds allowed for one HTTP request.
    type: float
    default: 30.0
"""

    ACTIONGROUP_XENON = r"""
attributes:
  action_group:
    description: Use C(group/zerodowntime.cluster.xenon) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - zerodowntime.cluster.xenon
"""
