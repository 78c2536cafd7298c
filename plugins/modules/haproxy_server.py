#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Put an HAProxy server in or out of the pool through the runtime API
version_added: 0.1.0
description:
  - Sets the administrative state of one server of a backend (C(set server <backend>/<server> state ...)) and
    reads it back.
  - V(maint) takes the server out of the pool for good (health checks cannot bring it back), V(drain) stops new
    connections but keeps existing ones, V(ready) returns it to the pool, where health checks decide again.
  - The administrative state is read from the C(srv_admin_state) flags of C(show servers state), not from the
    status of C(show stat), which shows a drained server whose health checks fail as V(DOWN), not V(DRAIN). So
    re-running V(drain) on such a server reports no change.
  - A server whose health checks fail (operational state stopped, status V(DOWN)) and whose weight is 0 is out of
    rotation anyway; it counts as drained and V(drain) leaves it as it is.
  - Not persistent across an HAProxy reload; change the configuration for that.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
  - zerodowntime.cluster.haproxy_runtime
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
options:
  backend:
    description: Backend name.
    type: str
    required: true
  server:
    description: Server name inside O(backend).
    type: str
    required: true
  state:
    description: Desired administrative state.
    type: str
    choices: [ready, drain, maint]
    required: true
notes:
  - Maintenance or drain that a server inherits from a server it tracks, or maintenance after a failed DNS resolution,
    cannot be cleared on this server; the module fails and says so.
"""

EXAMPLES = r"""
- name: Keep a decommissioned EMQX node out of the pool
  zerodowntime.cluster.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: emqx_mqtt
    server: emqx-blue-1
    state: maint

- name: Stop new connections to a node, through a TCP stats socket that may be slow to answer
  zerodowntime.cluster.haproxy_server:
    socket: 10.0.0.10:9999
    backend: emqx_mqtt
    server: emqx-blue-2
    state: drain
    timeout: 15
"""

RETURN = r"""
status:
  description: The server's status in C(show stat) after the task (before it in check mode).
  returned: success
  type: str
  sample: MAINT
before:
  description: The status before the task.
  returned: success
  type: str
  sample: DOWN
admin_state:
  description:
    - The administrative state after the task (predicted in check mode), from the C(srv_admin_state) flags.
    - V(ready) for a server that is DOWN with weight 0 and was left as it is by O(state=drain).
  returned: success
  type: str
  sample: drain
weight:
  description: The server's effective weight in C(show stat) after the task.
  returned: success
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.haproxy import runtime_api_args, set_server_state
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit


def main():
    module = AnsibleModule(
        argument_spec=dict(backend=dict(type="str", required=True),
                           server=dict(type="str", required=True),
                           state=dict(type="str", required=True, choices=["ready", "drain", "maint"]), **runtime_api_args()),
        supports_check_mode=True,
    )
    run_and_exit(module, lambda: set_server_state(module.params, module.check_mode))


if __name__ == "__main__":
    main()
