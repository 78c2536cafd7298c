#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_drain_wait
short_description: Follow the evacuation of EMQX nodes to its end, printing progress and an ETA
version_added: 0.2.0
description:
  - Waits until every node in O(nodes) is evacuated - state C(prohibiting) with no connection and no session left -
    and prints a progress line every O(progress_interval) seconds while it waits - percent drained, connections and
    sessions left per node, reconnects per second and an ETA that counts down.
  - Starts nothing and changes nothing. Start the evacuations with M(zerodowntime.cluster.emqx_evacuation) and
    O(zerodowntime.cluster.emqx_evacuation#module:wait=false) first.
  - An action plugin runs on the controller and runs this module on the target again and again; each run observes the
    cluster every O(poll_interval) seconds for up to O(progress_interval) seconds and hands its observations back.
    The controller's cost per observation is the same at the first and at the ten-thousandth observation, and what it
    keeps (the time series in RV(samples)) has a fixed upper size, so a drain of any length can be followed.
    C(delegate_to) and the task's connection apply to every run.
  - Fails at once when a node being drained stops (the sessions it still held are lost), and at the deadline
    O(started_at) + O(wait_timeout) with the last progress.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_connection
  - zerodowntime.cluster.emqx_connection.actiongroup_emqx
  - zerodowntime.cluster.attributes
options:
  nodes:
    description:
      - Erlang names of the nodes whose evacuation to follow.
    type: list
    elements: str
    required: true
  other_api_urls:
    description:
      - Management URLs of other nodes of the cluster, read through (in this order) when O(api_url) does not answer -
        for example while the node behind it restarts. RV(api_url) tells which one answered last.
    type: list
    elements: str
    default: []
  reconnect_budget:
    description:
      - Connections evicted per second, summed over O(nodes) - the sum of their C(conn_evict_rate). Used for the ETA.
    type: int
    required: true
  session_budget:
    description:
      - Sessions migrated per second, summed over O(nodes). Used for the ETA.
    type: int
    required: true
  wait_health_check:
    description:
      - The evacuations' C(wait_health_check) in seconds, counted in the ETA while a node is still in that phase.
    type: float
    default: 0.0
  wait_takeover:
    description:
      - The evacuations' C(wait_takeover) in seconds, counted in the ETA until the phase has passed.
    type: float
    default: 0.0
  wait_timeout:
    description:
      - Seconds the drain may take, counted from O(started_at). On timeout the task fails with the last progress.
      - C(0) is not "forever".
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two observations. When the ETA falls within three intervals, it observes every 0.5 seconds
        (or O(poll_interval) if shorter) so that the end of the drain is seen promptly.
      - Each observation is two reads of the management API (C(/nodes) and C(global_status)).
    type: float
    default: 2.0
  progress_interval:
    description:
      - Seconds between two progress lines, which is also the longest one run of the module on the target observes
        before it hands its observations to the controller. With O(poll_interval) longer than this, every observation
        prints a line.
    type: float
    default: 5.0
  started_at:
    description:
      - Unix time (seconds, the controller's clock) the drain began, for instance when its first evacuation was started.
        Elapsed times in the progress lines and the deadline count from it, so that several waits of one move (one node
        after the other) share one deadline. Default - when this task starts.
    type: float
  timeline_origin:
    description:
      - Unix time (seconds, the controller's clock) that C(t) in RV(samples) counts from, to append them to a longer
        time series. Default - O(started_at).
    type: float
attributes:
  check_mode:
    support: full
    details:
      - Changes nothing. In check mode it observes once and returns the progress without waiting, since evacuations
        that check mode did not start would never end.
  diff_mode:
    support: none
notes:
  - EMQX refreshes an evacuation's counters about once a second and waits whole phases (C(wait_health_check),
    C(wait_takeover)); between two changes the ETA counts down with the clock.
  - Progress lines are printed through Ansible's display on the controller (in AWX they are part of the job output).
seealso:
  - module: zerodowntime.cluster.emqx_evacuation
  - module: zerodowntime.cluster.emqx_cluster_info
"""

EXAMPLES = r"""
- name: Start the evacuation of two blue nodes without waiting
  zerodowntime.cluster.emqx_evacuation:
    api_url: https://emqx-green-1:18083
    node: "{{ item }}"
    conn_evict_rate: 100
    sess_evict_rate: 100
    migrate_to: [emqx@green-1.example.com, emqx@green-2.example.com]
    wait: false
  loop: [emqx@blue-1.example.com, emqx@blue-2.example.com]
  register: starts

- name: Follow both to the end, a progress line every 10 seconds, for at most an hour
  zerodowntime.cluster.emqx_drain_wait:
    api_url: https://emqx-green-1:18083
    other_api_urls: [https://emqx-green-2:18083]
    nodes: [emqx@blue-1.example.com, emqx@blue-2.example.com]
    reconnect_budget: 200
    session_budget: 200
    wait_takeover: 60
    started_at: "{{ starts.results | map(attribute='started_at') | min }}"
    wait_timeout: 3600
    progress_interval: 10
  register: drain

- name: Show how long it took
  ansible.builtin.debug:
    msg: "drained after {{ drain.elapsed }} s and {{ drain.observations }} observations"
"""

RETURN = r"""
done:
  description: Whether every node of O(nodes) was found drained (always true on success outside check mode).
  returned: always
  type: bool
waited:
  description: Whether the task waited (false in check mode).
  returned: always
  type: bool
progress:
  description: The last progress - C(done), C(percent), C(remaining_connections), C(remaining_sessions),
    C(reconnects_per_s), C(eta_s), C(stopped) (nodes found stopped) and C(nodes) (per node C(state), C(connections),
    C(sessions), C(running)).
  returned: always
  type: dict
  sample:
    done: true
    percent: 100.0
    remaining_connections: 0
    remaining_sessions: 0
    reconnects_per_s: 0.0
    eta_s: 0.0
    stopped: []
    nodes: {emqx@blue-1.example.com: {state: prohibiting, connections: 0, sessions: 0, running: true}}
elapsed:
  description: Seconds from O(started_at) to the last observation.
  returned: always
  type: float
drained_at:
  description: Unix time (controller's clock) of the observation that found every node drained.
  returned: when done
  type: float
api_url:
  description: The management URL that answered last (O(api_url) or one of O(other_api_urls)).
  returned: always
  type: str
api_version:
  description: The management API that was used.
  returned: when the cluster answered
  type: str
  sample: v5
samples:
  description: Connections and sessions of every running node over time (C(t) in seconds from O(timeline_origin)) -
    one point a second, thinned evenly to at most 600 points for long drains, and the last observation.
  returned: always
  type: list
  elements: dict
  sample: [{t: 12.0, connections: {emqx@blue-1.example.com: 120}, sessions: {emqx@blue-1.example.com: 130}}]
observations:
  description: How many times the cluster was observed.
  returned: always
  type: int
module_runs:
  description: How many times the module ran on the target (each run observes up to O(progress_interval) seconds).
  returned: always
  type: int
seconds_per_observation:
  description: Controller wall time per observation (including the module runs) over the first and the last
    C(window) observations - what stays constant however long the drain runs.
  returned: always
  type: dict
  sample: {window: 100, first: 0.031, last: 0.029}
cpu_seconds:
  description:
    - CPU seconds the controller spent on the wait - the task's worker and the module runs it started (or the
      connection's processes, such as ssh, for a remote target); not the target's own CPU.
  returned: always
  type: float
cpu_seconds_per_observation:
  description: RV(cpu_seconds) divided by the observations (null before the first).
  returned: always
  type: float
  sample: 0.012
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.drain import DRAIN_ARGS, DrainObserver
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS, CONNECTION_KWARGS, run


def main():
    module = AnsibleModule(argument_spec=merge_specs(CONNECTION_ARGS, DRAIN_ARGS), supports_check_mode=True, **CONNECTION_KWARGS)

    def node_client(url):
        return EmqxClient(dict(module.params, api_url=url))

    run(module, lambda client: DrainObserver(client, module.params, client_factory=node_client, check_mode=module.check_mode))


if __name__ == "__main__":
    main()
