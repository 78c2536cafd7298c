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
    reads it back from C(show stat).
  - V(maint) takes the server out of the pool for good (health checks cannot bring it back), V(drain) stops new
    connections but keeps existing ones, V(ready) returns it to the pool, where health checks decide again.
  - Not persistent across an HAProxy reload; change the configuration for that.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
options:
  socket:
    description: Path of HAProxy's admin-level C(stats socket), or V(host:port) of a TCP one.
    type: str
    required: true
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
"""

EXAMPLES = r"""
- name: Keep a decommissioned EMQX node out of the pool
  zerodowntime.cluster.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: emqx_mqtt
    server: emqx-blue-1
    state: maint
"""

RETURN = r"""
status:
  description: The server's status in C(show stat) after the task.
  returned: success
  type: str
  sample: MAINT
before:
  description: The status before the task.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.haproxy import backend_servers, runtime_command


def admin_state(status):
    """Map a show-stat status to the administrative state it reflects."""
    if "MAINT" in status:
        return "maint"
    if "DRAIN" in status or status == "NOLB":
        return "drain"
    return "ready"


def current_status(params):
    for server in backend_servers(params["socket"], params["backend"]):
        if server["name"] == params["server"]:
            return server["status"]
    raise ZdtError("backend %s has no server %s" % (params["backend"], params["server"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(socket=dict(type="str", required=True), backend=dict(type="str", required=True),
                           server=dict(type="str", required=True),
                           state=dict(type="str", required=True, choices=["ready", "drain", "maint"])),
        supports_check_mode=True,
    )
    params = module.params
    try:
        before = current_status(params)
        changed = admin_state(before) != params["state"]
        after = before
        if changed and not module.check_mode:
            answer = runtime_command(params["socket"], "set server %s/%s state %s" % (params["backend"], params["server"], params["state"]))
            if answer.strip():
                module.fail_json(msg="HAProxy refused 'set server %s/%s state %s': %s" % (
                    params["backend"], params["server"], params["state"], answer.strip()), before=before)
            after = current_status(params)
    except ZdtError as exc:
        module.fail_json(**exc.result())
    result = dict(changed=changed, before=before, status=after)
    if module._diff:
        result["diff"] = {"before": {"state": admin_state(before)}, "after": {"state": params["state"] if changed else admin_state(before)}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
