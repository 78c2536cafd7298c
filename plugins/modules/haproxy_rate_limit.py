#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_rate_limit
short_description: Set HAProxy's process-wide limit of new sessions per second through the runtime API
version_added: 0.2.0
description:
  - Sets the limit the global C(maxsessrate) setting gives (C(set rate-limit sessions global <n>)) and reads it back
    from C(show info) (C(SessRateLimit)).
  - Past the limit HAProxy stops accepting until the last second's count allows more; the connections wait in the
    listen queue of the kernel meanwhile. So a limit caps how fast clients reach the servers, however they bunch up.
  - The limit applies to every frontend of the HAProxy process, not to one. The runtime API's own socket is not
    subject to it.
  - Not persistent across an HAProxy reload or restart, which go back to the configuration's C(maxsessrate).
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
  sessions:
    description:
      - New sessions per second the whole process accepts; V(0) removes the limit.
    type: int
    required: true
seealso:
  - module: zerodowntime.cluster.haproxy_backend_info
    description: Reads the limit in force (RV(zerodowntime.cluster.haproxy_backend_info#module:session_rate_limit)).
"""

EXAMPLES = r"""
- name: Let no more than 460 clients a second through while a node's clients reconnect elsewhere
  zerodowntime.cluster.haproxy_rate_limit:
    socket: /run/haproxy/admin.sock
    sessions: 460
  register: lb_limit

- name: Put the limit back
  zerodowntime.cluster.haproxy_rate_limit:
    socket: /run/haproxy/admin.sock
    sessions: "{{ lb_limit.before }}"
"""

RETURN = r"""
before:
  description: The limit before the task (V(0) for none).
  returned: success
  type: int
  sample: 0
sessions:
  description: The limit after the task (predicted in check mode).
  returned: success
  type: int
  sample: 460
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.haproxy import runtime_api_args, set_session_rate_limit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit


def main():
    module = AnsibleModule(
        argument_spec=dict(sessions=dict(type="int", required=True), **runtime_api_args()),
        supports_check_mode=True,
    )
    run_and_exit(module, lambda: set_session_rate_limit(module.params, module.check_mode))


if __name__ == "__main__":
    main()
