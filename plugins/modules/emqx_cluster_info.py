#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_cluster_info
short_description: Read the members, load and running evacuations and rebalances of an EMQX cluster
version_added: 0.1.0
description:
  - Returns every node with its status, role, version, edition, live connections and sessions, the evacuations,
    rebalances and purges listed in C(global_status), and optionally each node's own C(availability_check) answer
    (what a load balancer's health check sees).
  - Never changes anything.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_connection
  - zerodowntime.cluster.emqx_connection.actiongroup_emqx
  - zerodowntime.cluster.attributes.info_module
options:
  node_api_urls:
    description:
      - Mapping of node name to that node's own management URL. C(availability_check) is node-local, so it is asked
        on each listed node directly; nodes not listed get no RV(availability) entry.
      - Uses the same credentials as O(api_url).
    type: dict
notes:
  - Stopped nodes stay listed (status V(stopped)) until EMQX's C(cluster.autoclean) removes them; EMQX 5 lists
    stopped core nodes only, never a stopped replicant, and EMQX 4.4 lists running nodes only.
  - C(/nodes) calls sessions C(connections); this module returns them as RV(nodes[].sessions) and connected clients
    (C(live_connections)) as RV(nodes[].connections). EMQX 4.4 has C(live_connections) in C(/nodes) from 4.4.19 only;
    before that the connected clients come from the node's C(live_connections.count) in C(/stats), and
    RV(nodes[].connections_from) says which figure was used.
seealso:
  - module: zerodowntime.cluster.emqx_evacuation
  - module: zerodowntime.cluster.emqx_rebalance
"""

EXAMPLES = r"""
- name: Read the cluster
  zerodowntime.cluster.emqx_cluster_info:
    api_url: https://emqx-1:18083
    api_key: "{{ emqx_api_key }}"
    api_secret: "{{ emqx_api_secret }}"
  register: cluster

- name: Fail unless every member runs the new version
  ansible.builtin.assert:
    that: cluster.versions == ['5.10.4']

- name: Ask each node what its load balancer health check sees
  zerodowntime.cluster.emqx_cluster_info:
    api_url: https://emqx-1:18083
    node_api_urls:
      emqx@emqx-1.example.com: https://emqx-1:18083
      emqx@emqx-2.example.com: https://emqx-2:18083
  register: cluster
"""

RETURN = r"""
api_version:
  description: The management API that was used.
  returned: always
  type: str
  sample: v5
nodes:
  description: One entry per cluster member.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Erlang node name.
      type: str
    status:
      description: V(running) or V(stopped).
      type: str
    role:
      description: V(core) or V(replicant).
      type: str
    version:
      description: EMQX version of the node.
      type: str
    edition:
      description: V(Enterprise) or V(Opensource).
      type: str
    connections:
      description: Connected clients (EMQX's C(live_connections)).
      type: int
    live_connections:
      description: Same as RV(nodes[].connections), under EMQX's own name.
      type: int
    sessions:
      description: Sessions (channels) on the node, connected or not (EMQX's C(connections)).
      type: int
    connections_from:
      description:
        - Where RV(nodes[].connections) comes from - V(/nodes live_connections), V(/stats live_connections.count) (EMQX 4.4
          before 4.4.19), or, when neither is there, the channel count, which includes disconnected persistent sessions.
      type: str
    evacuation:
      description: State of the evacuation running on the node, or null.
      type: str
    rebalance_donor_of:
      description: Coordinator of the rebalance this node donates to, or null.
      type: str
    available:
      description: The node's C(availability_check) answer - V(available), V(unavailable) or an error.
      type: str
      returned: when the node is listed in O(node_api_urls)
running_nodes:
  description: Names of running nodes.
  returned: always
  type: list
  elements: str
stopped_nodes:
  description:
    - Names of members that are not running, as EMQX lists them.
    - EMQX 5 lists stopped core nodes only (a stopped replicant is in neither list); EMQX 4.4 lists no stopped node.
  returned: always
  type: list
  elements: str
versions:
  description: Distinct versions of the running nodes.
  returned: always
  type: list
  elements: str
total_connections:
  description: Connected clients on running nodes.
  returned: always
  type: int
total_sessions:
  description: Sessions on running nodes.
  returned: always
  type: int
evacuations:
  description: C(global_status.evacuations) (4.4's older keyed-by-node shape is converted to a list).
  returned: always
  type: list
  elements: dict
rebalances:
  description: C(global_status.rebalances); C(node) is the coordinator.
  returned: always
  type: list
  elements: dict
purges:
  description: C(global_status.purges) (EMQX 5.2.1 and later).
  returned: always
  type: list
  elements: dict
availability:
  description: Node name to V(available), V(unavailable) or an error, for the nodes in O(node_api_urls).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.info import ClusterInfo
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS, CONNECTION_KWARGS, run


def main():
    module = AnsibleModule(argument_spec=merge_specs(CONNECTION_ARGS, dict(node_api_urls=dict(type="dict"))),
                           supports_check_mode=True, **CONNECTION_KWARGS)

    def node_client(url):
        return EmqxClient(dict(module.params, api_url=url, api_version=module.params["api_version"]))

    run(module, lambda client: ClusterInfo(client, module.params, client_factory=node_client))


if __name__ == "__main__":
    main()
