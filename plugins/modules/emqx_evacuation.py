#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_evacuation
short_description: Evacuate an EMQX node, or return it to normal
version_added: 0.1.0
description:
  - Drives EMQX's node evacuation (C(/load_rebalance/{node}/evacuation/start|stop)) towards a desired state.
  - V(evacuated) starts an evacuation (the node stops taking connections, disconnects its clients at
    O(conn_evict_rate) per second, waits O(wait_takeover) seconds, then migrates the remaining sessions to
    O(migrate_to) at O(sess_evict_rate) per second). With O(wait=true) the module returns once the node is in
    C(prohibiting) with no connection and no session left - EMQX never ends an evacuation by itself.
  - V(normal) stops a running evacuation so the node accepts clients again.
  - The node and O(migrate_to) are checked against C(/nodes) and C(global_status) before anything is changed, and
    options the server version cannot take are refused with the version named.
  - Speaks the EMQX 5 API (C(/api/v5)) and the EMQX Enterprise 4.4 API (C(/api/v4), whose errors arrive as HTTP 200
    with a non-zero C(code)).
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
      - Predicts from C(global_status) whether an evacuation would start or stop; sends no request that changes
        anything and does not wait.
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
    details:
      - Starting an evacuation that already runs with the same visible parameters (rates, O(migrate_to)) reports
        no change. O(wait_takeover), O(wait_health_check) and O(redirect_to) are not shown by EMQX for a running
        evacuation and cannot be compared.
      - EMQX shows as C(session_recipients) only the nodes of O(migrate_to) that can take sessions at that moment, so a
        requested node that is stopped or itself evacuated for now is not a difference.
options:
  node:
    description:
      - Erlang name of the node to evacuate or restore, for example V(emqx@10.0.0.5).
    type: str
    required: true
  state:
    description:
      - V(evacuated) - an evacuation of O(node) runs (and, with O(wait), has drained it).
      - V(normal) - no evacuation runs on O(node).
    type: str
    choices: [evacuated, normal]
    default: evacuated
  conn_evict_rate:
    description:
      - Connections disconnected per second. EMQX default 500.
    type: int
  sess_evict_rate:
    description:
      - Sessions migrated per second once connections are gone. EMQX default 500.
    type: int
  wait_health_check:
    description:
      - Seconds (or a duration string such as V(30s)) between the start and the first disconnection, during which
        C(availability_check) already answers 503 so load balancers stop sending new clients. EMQX default 60.
      - EMQX 5.1.0 and later only; not documented for 4.4.
    type: raw
  wait_takeover:
    description:
      - Seconds (or a duration string) to wait after the last disconnection before migrating sessions, so that
        reconnecting clients take their sessions over themselves. EMQX default 60.
    type: raw
  redirect_to:
    description:
      - MQTT 5 Server Reference sent to evicted and refused clients, for example V(mqtt-green.example.com:1883).
      - EMQX 5.x REST handlers were seen to validate but not apply this field; check with an MQTT 5 client.
    type: str
  migrate_to:
    description:
      - Nodes that receive the sessions left after O(wait_takeover). Default (EMQX) - every other available node.
    type: list
    elements: str
  restart_on_change:
    description:
      - When an evacuation already runs with other rates or recipients, stop it and start it again with these
        options. By default the module fails and says what differs.
    type: bool
    default: false
  start_at:
    description:
      - Unix time (seconds, on the host the module runs on) before which the start request is not sent. The checks run
        first; the module then sleeps until this moment. A moment already past starts at once.
      - EMQX evicts one batch of O(conn_evict_rate) connections a second, counted from the start. Several nodes
        drained side by side and started at the same moment send their batches together, and the reconnects of
        the clients bunch; started at different fractions of the same second (the role C(emqx_blue_green) does this
        with parallel jobs), their batches take turns.
      - At most 60 s ahead of the host's clock; a later moment is refused as a mistake (or a clock far behind).
    type: float
notes:
  - An evacuation survives a restart of the node (EMQX persists it), resuming without O(wait_health_check) and with
    O(migrate_to) reset. Always return nodes to V(normal) (or remove them) after maintenance.
  - Do not evacuate a node that is a rebalance donor; the module refuses it (C(eviction_agent_busy)).
seealso:
  - module: zerodowntime.cluster.emqx_rebalance
  - module: zerodowntime.cluster.emqx_cluster_info
"""

EXAMPLES = r"""
- name: Drain a blue node into the green nodes, 200 clients per second, and wait until it is empty
  zerodowntime.cluster.emqx_evacuation:
    api_url: https://emqx-green-1:18083
    api_key: "{{ emqx_api_key }}"
    api_secret: "{{ emqx_api_secret }}"
    node: emqx@blue-1.example.com
    conn_evict_rate: 200
    sess_evict_rate: 200
    wait_health_check: 15
    wait_takeover: 30
    migrate_to:
      - emqx@green-1.example.com
      - emqx@green-2.example.com
    wait_timeout: 1800

- name: Start the evacuation and return at once (poll it later with emqx_cluster_info)
  zerodowntime.cluster.emqx_evacuation:
    api_url: https://emqx-1:18083
    username: admin
    password: "{{ emqx_dashboard_password }}"
    node: emqx@emqx-2.example.com
    wait: false

- name: Return the node to normal after maintenance
  zerodowntime.cluster.emqx_evacuation:
    api_url: https://emqx-1:18083
    node: emqx@emqx-2.example.com
    state: normal

- name: EMQX Enterprise 4.4, credentials from EMQX_APP_ID / EMQX_APP_SECRET
  zerodowntime.cluster.emqx_evacuation:
    api_url: http://emqx-1:8081
    node: emqx@10.0.0.5
    conn_evict_rate: 50
    migrate_to: [emqx@10.0.0.6]
"""

RETURN = r"""
node:
  description: The node acted on.
  returned: always
  type: str
  sample: emqx@blue-1.example.com
api_version:
  description: The management API that was used.
  returned: success
  type: str
  sample: v5
before:
  description: The evacuation entry of O(node) in C(global_status) before the task, or null.
  returned: success
  type: dict
status:
  description: The evacuation entry after the task (null when none runs) - C(state), rates, C(session_recipients) and
    C(stats) with C(initial_connected), C(current_connected), C(initial_sessions), C(current_sessions).
  returned: success
  type: dict
  sample:
    node: emqx@blue-1.example.com
    state: prohibiting
    connection_eviction_rate: 200
    session_eviction_rate: 200
    session_recipients: [emqx@green-1.example.com]
    stats: {initial_connected: 1200, current_connected: 0, initial_sessions: 1300, current_sessions: 0}
request:
  description: The body sent (or that would be sent) to C(evacuation/start).
  returned: when O(state=evacuated)
  type: dict
restarted:
  description: Whether a running evacuation with other parameters was stopped and started again.
  returned: when it happened
  type: bool
timeline:
  description: Samples taken while waiting - seconds since the wait began (C(t)), C(state), C(connections),
    C(sessions) and the estimated seconds left (C(eta_s)).
  returned: when waited
  type: list
  elements: dict
  sample: [{t: 0.0, state: evicting_conns, connections: 1180, sessions: 1300, eta_s: 37.2}]
elapsed:
  description: Seconds spent waiting.
  returned: when waited
  type: float
eta_s:
  description: Estimated seconds left when the task returned (0 once drained).
  returned: when waited
  type: float
started_at:
  description: Unix time (seconds) at which this task sent the start request (not before O(start_at)).
  returned: when this task started the evacuation
  type: float
drained_at:
  description: Unix time (seconds) of the observation that found the node drained.
  returned: when waited to the end
  type: float
node_info:
  description: The C(/nodes) entry of O(node) (name, status, role, version, edition, connections, sessions).
  returned: success
  type: dict
check_mode_prediction:
  description: In check mode, whether a real run would change something.
  returned: in check mode when a change is predicted
  type: bool
last_observed:
  description: On a failed or timed-out wait, the last state seen.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import WAIT_ARGS, merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.evacuation import Evacuation
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS, CONNECTION_KWARGS, run


def argument_spec():
    return merge_specs(CONNECTION_ARGS, WAIT_ARGS, dict(
        node=dict(type="str", required=True),
        state=dict(type="str", default="evacuated", choices=["evacuated", "normal"]),
        conn_evict_rate=dict(type="int"),
        sess_evict_rate=dict(type="int"),
        wait_health_check=dict(type="raw"),
        wait_takeover=dict(type="raw"),
        redirect_to=dict(type="str"),
        migrate_to=dict(type="list", elements="str"),
        restart_on_change=dict(type="bool", default=False),
        start_at=dict(type="float"),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONNECTION_KWARGS)
    run(module, lambda client: Evacuation(client, module.params, check_mode=module.check_mode))


if __name__ == "__main__":
    main()
