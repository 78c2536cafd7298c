#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_rebalance
short_description: Rebalance connections and sessions across EMQX nodes
version_added: 0.1.0
description:
  - Drives EMQX's load rebalance (C(/load_rebalance/{node}/start|stop)) towards a desired state.
  - V(started) starts a rebalance coordinated by O(node) among O(nodes). Nodes with more connections than the
    average (donors) disconnect clients at O(conn_evict_rate) per second until the balance condition holds, wait
    O(wait_takeover), then hand disconnected sessions to the other nodes (recipients).
  - EMQX answers C(nothing_to_balance) (HTTP 400) when the cluster already meets the thresholds; the module treats
    that as success with no change and RV(rebalance_outcome=balanced).
  - EMQX removes a rebalance from C(global_status) both when it finishes and when it is aborted (for instance
    because a participant crashed). With O(wait=true) the module therefore computes the balance condition from
    C(/nodes) and the states it saw afterwards, and fails with RV(rebalance_outcome=aborted) or
    RV(rebalance_outcome=unbalanced) when the cluster is not balanced.
  - Without O(nodes), the participants are every running node that is not being evacuated and not a donor of
    another rebalance - EMQX's own default would include evacuating nodes.
  - V(absent) stops the rebalance coordinated by O(node).
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_connection
  - zerodowntime.cluster.emqx_connection.actiongroup_emqx
  - zerodowntime.cluster.wait
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
    details:
      - Predicts C(nothing_to_balance) from C(/nodes) with EMQX's own balance rule; sends nothing that changes state.
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
    details:
      - A rebalance that already runs with the same rates and participants is not restarted. Once a rebalance has
        finished, running the task again may start a new one if the load has drifted beyond the thresholds.
options:
  node:
    description:
      - Coordinator node (Erlang name). It need not be a participant.
    type: str
    required: true
  state:
    description:
      - V(started) - a rebalance coordinated by O(node) runs (and, with O(wait), has finished with the cluster
        balanced).
      - V(absent) - no rebalance coordinated by O(node) runs.
    type: str
    choices: [started, absent]
    default: started
  nodes:
    description:
      - Participating nodes (at least two). Default - running nodes that are not being evacuated.
    type: list
    elements: str
  conn_evict_rate:
    description:
      - Connections each donor disconnects per second.
      - EMQX evicts this many from every donor still above the recipients' average each second, so its last second
        can leave the nodes up to O(conn_evict_rate) x (1 + donors / recipients) apart. Unset, the module sends the
        highest rate for which that gap stays within the thresholds, at most EMQX's default of 500 (RV(chosen_rates));
        a rate set above it draws a warning that names it.
    type: int
  sess_evict_rate:
    description:
      - Disconnected sessions each donor hands over per second; chosen as O(conn_evict_rate) is when unset.
    type: int
  wait_health_check:
    description:
      - Seconds (or a duration string such as V(30s)) during which donors already fail C(availability_check) before
        evicting. EMQX default 60.
    type: raw
  wait_takeover:
    description: Seconds (or a duration string) between connection and session eviction. EMQX default 60.
    type: raw
  abs_conn_threshold:
    description: Balanced when the donors' average connections exceed the recipients' by at most this. EMQX default 1000.
    type: int
  rel_conn_threshold:
    description: Or when the donors' average is at most this many times the recipients'. Must be above 1.0. EMQX default 1.1.
    type: float
  abs_sess_threshold:
    description: Absolute threshold for sessions. EMQX default 1000.
    type: int
  rel_sess_threshold:
    description: Relative threshold for sessions, above 1.0. EMQX default 1.1.
    type: float
  conn_evict_rpc_timeout:
    description:
      - Seconds (or a duration string) a connection-eviction RPC may take before the rebalance gives up on a node.
        Sent to EMQX in milliseconds. EMQX 5.9.0 and later.
    type: raw
  sess_evict_rpc_timeout:
    description:
      - The same for session eviction. EMQX 5.9.0 and later.
    type: raw
  restart_on_change:
    description:
      - When a rebalance already runs with other rates or participants, stop it and start it again. By default the
        module fails and says what differs.
    type: bool
    default: false
notes:
  - Rebalancing is ephemeral - if a participant crashes, EMQX aborts it everywhere. Re-run the task once the node is back.
  - With the default thresholds (1000 connections), small clusters are usually already balanced.
seealso:
  - module: zerodowntime.cluster.emqx_evacuation
  - module: zerodowntime.cluster.emqx_cluster_info
"""

EXAMPLES = r"""
- name: Spread load onto a newly added node and wait until the cluster is balanced
  zerodowntime.cluster.emqx_rebalance:
    api_url: https://emqx-1:18083
    api_key: "{{ emqx_api_key }}"
    api_secret: "{{ emqx_api_secret }}"
    node: emqx@emqx-1.example.com
    conn_evict_rate: 50
    sess_evict_rate: 50
    wait_health_check: 10
    wait_takeover: 30
    abs_conn_threshold: 100
    rel_conn_threshold: 1.2
    wait_timeout: 3600
  register: rebalance

- name: Show how it ended
  ansible.builtin.debug:
    msg: "{{ rebalance.rebalance_outcome }} in {{ rebalance.elapsed | default(0) }} s"

- name: Stop a rebalance
  zerodowntime.cluster.emqx_rebalance:
    api_url: https://emqx-1:18083
    node: emqx@emqx-1.example.com
    state: absent
"""

RETURN = r"""
chosen_rates:
  description: The eviction rates the module chose because they were not set, so that the last second cannot overshoot.
  returned: with O(state=started)
  type: dict
  sample: {conn_evict_rate: 30, sess_evict_rate: 500}
coordinator:
  description: The coordinator node.
  returned: always
  type: str
api_version:
  description: The management API that was used.
  returned: success
  type: str
nodes:
  description: The participants sent to EMQX.
  returned: when O(state=started)
  type: list
  elements: str
request:
  description: The body sent (or that would be sent) to C(start).
  returned: when O(state=started)
  type: dict
before:
  description: The rebalance entry of the coordinator in C(global_status) before the task, or null.
  returned: success
  type: dict
status:
  description: The rebalance entry after the task; null once it has finished.
  returned: success
  type: dict
nothing_to_balance:
  description: EMQX (or, in check mode, the same rule applied to C(/nodes)) found the cluster already balanced.
  returned: when it applies
  type: bool
rebalance_outcome:
  description:
    - V(balanced) when the rebalance finished (or was not needed) and EMQX's balance condition holds on the current counts.
    - V(aborted) (the task fails) when it vanished from C(global_status) because a participant stopped, or before the
      C(wait_takeover) phase a finished rebalance always goes through.
    - V(unbalanced) (the task fails) when it finished but the condition does not hold, typically because evicted clients
      reconnected more slowly than the donors evicted and the load overshot onto the recipients.
  returned: when waited, or on nothing_to_balance
  type: str
  sample: balanced
balance:
  description: Per-node live connections and disconnected sessions, donor and recipient averages and thresholds used
    to decide RV(rebalance_outcome).
  returned: when waited
  type: dict
timeline:
  description:
    - Samples taken while waiting (C(t), C(state), C(donor_conn_avg), C(connection_goal), ...).
    - EMQX reports the averages and goals only from the first tick that found the donors above them, and then keeps
      the values of the last such tick; until then they are null.
  returned: when waited
  type: list
  elements: dict
elapsed:
  description: Seconds spent waiting.
  returned: when waited
  type: float
restarted:
  description: Whether a running rebalance with other parameters was stopped and started again.
  returned: when it happened
  type: bool
last_observed:
  description: The last rebalance entry seen (also on failure).
  returned: when waited, and on failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import WAIT_ARGS, merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS, CONNECTION_KWARGS, run
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.rebalance import Rebalance


def argument_spec():
    return merge_specs(CONNECTION_ARGS, WAIT_ARGS, dict(
        node=dict(type="str", required=True),
        state=dict(type="str", default="started", choices=["started", "absent"]),
        nodes=dict(type="list", elements="str"),
        conn_evict_rate=dict(type="int"),
        sess_evict_rate=dict(type="int"),
        wait_health_check=dict(type="raw"),
        wait_takeover=dict(type="raw"),
        abs_conn_threshold=dict(type="int"),
        rel_conn_threshold=dict(type="float"),
        abs_sess_threshold=dict(type="int"),
        rel_sess_threshold=dict(type="float"),
        conn_evict_rpc_timeout=dict(type="raw"),
        sess_evict_rpc_timeout=dict(type="raw"),
        restart_on_change=dict(type="bool", default=False),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONNECTION_KWARGS)
    run(module, lambda client: Rebalance(client, module.params, check_mode=module.check_mode))


if __name__ == "__main__":
    main()
