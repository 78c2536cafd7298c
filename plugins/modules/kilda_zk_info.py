#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kilda_zk_info
short_description: Read every Open Kilda component of one colour from ZooKeeper, with a consistency verdict
description:
  - Reads C(signal), C(state), C(expected_state) and C(build-version) of every component instance of one colour
    (discovered under the chroot, or the ones listed in O(components)) in one round of asynchronous reads.
  - The verdict is consistent when every listed instance exists, all share one build-version, and every component
    that reacts to signals has settled for its signal (C(START) with C(state == expected_state), or C(state > 0) where
    no C(expected_state) exists; C(SHUTDOWN) with C(state == 0)). This is the readiness rule of Kilda's own
    health check plus the design document's build-version check.
version_added: 0.1.0
author:
  - zerodowntime.cluster contributors (@zerodowntime)
requirements:
  - kazoo >= 2.9
extends_documentation_fragment:
  - zerodowntime.cluster.kilda_connection
  - zerodowntime.cluster.kilda_connection.actiongroup_kilda
  - zerodowntime.cluster.attributes.info_module
attributes:
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  env:
    description:
      - The colour to report, for example C(blue) or C(green).
    type: str
    required: true
  components:
    description:
      - Component instances to report instead of discovering every C(<prefix>/*/<env>).
      - An empty list reports only O(regions).
      - An entry is a component name (its O(env) instance) or C(name/env_id) for instances with another id,
        such as C(floodlight/1) or C(func_test/func_test_run_id).
    type: list
    elements: str
  regions:
    description:
      - Floodlight regions that belong to this colour; C(floodlight/<region>) is added to the report.
    type: list
    elements: str
  read_only:
    description:
      - Allow answering from a server that lost its quorum (read-only mode), which may return stale values.
      - Only servers started with the JVM flag C(-Dreadonlymode.enabled=true) serve read-only sessions; they do so
        a few seconds after losing their quorum. The result says whether that happened (RV(read_only_server)).
    type: bool
    default: false
notes:
  - The Kilda modules work with ZooKeeper 3.4 (Open Kilda's own image ships 3.4.9) and later, since they read nodes, their
    ACLs and children and write with C(multi) transactions, all of which 3.4 has, as it has digest ACLs and read-only mode.
    TLS (O(use_tls)) needs ZooKeeper 3.5.5 or later; against an older server the task fails at once naming the server
    and its version (from the C(srvr) four-letter word) instead of timing out.
seealso:
  - module: zerodowntime.cluster.kilda_zk_signal
"""

EXAMPLES = r"""
- name: Is green fully started and on one build-version?
  zerodowntime.cluster.kilda_zk_info:
    hosts: zk1:2181,zk2:2181,zk3:2181
    env: green
    regions: ["1"]
  register: green

- name: Stop at the decision point unless green is consistent
  ansible.builtin.assert:
    that: green.verdict.consistent
    fail_msg: "{{ green.verdict.problems }}"

- name: Only the version-only services of blue
  zerodowntime.cluster.kilda_zk_info:
    hosts: zk1:2181
    env: blue
    components: [northbound, grpc, func_test/func_test_run_id]
"""

RETURN = r"""
prefix:
  description: The chroot the paths are under.
  returned: always
  type: str
  sample: /kilda
env:
  description: The colour reported.
  returned: always
  type: str
components:
  description: One entry per component instance.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: 'C(component/env).'
      type: str
      returned: always
      sample: network/blue
    component:
      description: 'Component name.'
      type: str
      returned: always
    env:
      description: 'Instance id.'
      type: str
      returned: always
    path:
      description: 'Absolute path.'
      type: str
      returned: always
    exists:
      description: 'Whether the instance node exists.'
      type: bool
      returned: always
    signal:
      description: 'C(signal) text (null when missing).'
      type: str
      returned: always
    state:
      description: 'C(state) text (null when missing).'
      type: str
      returned: always
    expected_state:
      description: 'C(expected_state) text (null when missing).'
      type: str
      returned: always
    build_version:
      description: 'C(build-version) text (null when missing).'
      type: str
      returned: always
    reacts_to_signal:
      description: 'False for components that only use their build-version (northbound, grpc, ...).'
      type: bool
      returned: always
    settled:
      description: 'Whether the component settled for its signal (null when it does not react to signals).'
      type: bool
      returned: always
    problem:
      description: 'Why it is not settled or not consistent, or null.'
      type: str
      returned: always
verdict:
  description: The consistency verdict of the colour.
  returned: always
  type: dict
  contains:
    consistent:
      description: 'Everything exists, one build-version, all settled.'
      type: bool
      returned: always
    build_version_consistent:
      description: 'Exactly one build-version across the colour.'
      type: bool
      returned: always
    build_versions:
      description: 'The distinct build-versions found.'
      type: list
      elements: str
      returned: always
    states_settled:
      description: 'Every signal-reacting component settled.'
      type: bool
      returned: always
    unsettled:
      description: 'Ids of components that are not settled.'
      type: list
      elements: str
      returned: always
    signals:
      description: 'Component ids grouped by signal value.'
      type: dict
      returned: always
    problems:
      description: 'Human-readable list of everything that is wrong.'
      type: list
      elements: str
      returned: always
read_only_server:
  description:
    - True when the values came from a server without quorum (only possible with O(read_only=true)); they may
      be stale, and the module also warns.
  returned: always
  type: bool
elapsed:
  description: Seconds the reads took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, info


def main():
    argument_spec = merge_specs(
        connection.CONNECTION_ARGS,
        dict(
            env=dict(type="str", required=True),
            components=dict(type="list", elements="str"),
            regions=dict(type="list", elements="str"),
            read_only=dict(type="bool", default=False),
        ),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=connection.CONNECTION_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    if not connection.HAS_KAZOO:
        module.fail_json(msg=missing_required_lib("kazoo"), exception=connection.KAZOO_IMPORT_ERROR)

    def read(client):
        result = info.run(client, module.params)
        result["read_only_server"] = connection.is_read_only(client)
        if result["read_only_server"]:
            module.warn("ZooKeeper answered from a server without quorum (read-only mode): the values may be stale")
        return result

    run_and_exit(module, lambda: connection.with_client(module.params, read, read_only=module.params["read_only"]),
                 [module.params.get("password")])


if __name__ == "__main__":
    main()
