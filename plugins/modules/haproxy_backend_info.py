#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_backend_info
short_description: Read the servers of an HAProxy backend from its runtime API
version_added: 0.1.0
description:
  - Asks HAProxy's runtime API (C(show stat)) for the servers of one backend - status as HAProxy sees it
    (V(UP), V(DOWN), V(DRAIN), V(MAINT), V(NOLB), ...), current and total sessions, last health check - and
    (C(show info)) for the process-wide limit of new sessions per second.
  - Used by the blue-green roles to confirm from the load balancer itself that a node has left the pool, instead
    of sleeping for a fixed time.
  - Runs where the socket is (delegate to the load balancer host for a UNIX socket).
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes.info_module
  - zerodowntime.cluster.haproxy_runtime
options:
  backend:
    description: Name of the backend to read.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Wait until HAProxy has taken the blue servers out of the pool
  zerodowntime.cluster.haproxy_backend_info:
    socket: /run/haproxy/admin.sock
    backend: emqx_mqtt
  register: lb
  until: lb.servers | selectattr('name', 'in', ['blue1', 'blue2']) | selectattr('status', 'equalto', 'UP') | list | length == 0
  retries: 30
  delay: 1
  delegate_to: lb1.example.com
"""

RETURN = r"""
servers:
  description: The backend's servers.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name in the HAProxy configuration.
      type: str
    status:
      description: V(UP), V(DOWN), V(DRAIN), V(MAINT), V(NOLB), or a transition such as V(UP) going down.
      type: str
    current_sessions:
      description: Connections the server holds now (C(scur)).
      type: int
    total_sessions:
      description: Connections since HAProxy started (C(stot)).
      type: int
    weight:
      description: Effective weight.
      type: int
    check_status:
      description:
        - Result of the last health check (for example V(L7OK), V(L7STS)), without the C(* ) HAProxy puts before it while
          the next check runs.
      type: str
    check_in_progress:
      description: Whether a health check was running when HAProxy answered.
      type: bool
    last_change_s:
      description: Seconds since the last status change.
      type: int
by_name:
  description: The same entries keyed by server name.
  returned: always
  type: dict
session_rate_limit:
  description:
    - New sessions per second the whole HAProxy process accepts (C(SessRateLimit) of C(show info), the global
      C(maxsessrate) or what M(zerodowntime.cluster.haproxy_rate_limit) set); V(0) for no limit.
  returned: always
  type: int
  sample: 0
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.haproxy import backend_info, runtime_api_args
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit


def main():
    module = AnsibleModule(
        argument_spec=dict(backend=dict(type="str", required=True), **runtime_api_args()),
        supports_check_mode=True,
    )
    run_and_exit(module, lambda: backend_info(module.params))


if __name__ == "__main__":
    main()
