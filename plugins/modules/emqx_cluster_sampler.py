#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_cluster_sampler
short_description: Sample an EMQX cluster's connections once a second while a procedure runs
version_added: 0.1.0
description:
  - Reads C(/nodes) every O(interval) seconds and keeps each running node's connected clients and sessions, for the
    picture of an upgrade or drain at the resolution of the seed's Grafana figure, whatever the procedure's own poll
    cadence.
  - Meant to run as an async task (C(async), C(poll=0)) beside a long procedure. It stops when O(stop_file) exists,
    after O(max_duration) seconds, or once no node has answered for O(give_up_after) seconds, and then returns the
    samples and the clients arriving per second between them. Collect the result with M(ansible.builtin.async_status).
  - Reads through O(api_url) and, when that node stops answering, through any of O(other_api_urls).
  - Memory stays bounded - past 7200 samples it keeps every other one and samples half as often.
  - Never changes anything.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_connection
  - zerodowntime.cluster.emqx_connection.actiongroup_emqx
  - zerodowntime.cluster.attributes.info_module
options:
  stop_file:
    description: Path on the host that runs the module; the sampler stops at the first look that finds it.
    type: path
    required: true
  interval:
    description: Seconds between two samples.
    type: float
    default: 1.0
  max_duration:
    description: Seconds after which the sampler stops by itself.
    type: float
    required: true
  give_up_after:
    description: Seconds without an answer from any node after which the sampler stops (the cluster or the run is gone).
    type: float
    default: 60.0
  origin:
    description: Epoch seconds that RV(samples[].t) count from (the procedure's own start); default the sampler's start.
    type: float
  other_api_urls:
    description: Management URLs of other nodes to read through when O(api_url) does not answer (same credentials).
    type: list
    elements: str
    default: []
seealso:
  - module: zerodowntime.cluster.emqx_cluster_info
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Sample the cluster while the upgrade runs
  zerodowntime.cluster.emqx_cluster_sampler:
    api_url: https://emqx-1:18083
    other_api_urls: [https://emqx-2:18083]
    stop_file: /tmp/upgrade-sampler.stop
    max_duration: 7200
  async: 7300
  poll: 0
  register: sampler

# ... the procedure ...

- name: Stop the sampler
  ansible.builtin.file:
    path: /tmp/upgrade-sampler.stop
    state: touch
    mode: "0600"

- name: Collect its samples
  ansible.builtin.async_status:
    jid: "{{ sampler.ansible_job_id }}"
  register: sampled
  until: sampled.finished
  retries: 30
  delay: 1
"""

RETURN = r"""
api_version:
  description: The management API that was used.
  returned: always
  type: str
  sample: v5
samples:
  description: One entry per answered read.
  returned: always
  type: list
  elements: dict
  contains:
    t:
      description: Seconds since O(origin).
      type: float
    connections:
      description: Running node name to connected clients.
      type: dict
    sessions:
      description: Running node name to sessions.
      type: dict
reconnects_per_s:
  description: Clients arriving per second between consecutive samples - the sum of every node's rise in connected clients.
  returned: always
  type: list
  elements: dict
  sample: [{t: 12.0, per_s: 153.0}]
interval:
  description: Seconds between samples at the end (doubled each time the samples were thinned).
  returned: always
  type: float
stopped_by:
  description: V(stop_file), V(max_duration) or V(give_up_after).
  returned: always
  type: str
errors:
  description: Reads that no node answered - a message once, with the time it was first seen, until another message follows.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.module import CONNECTION_ARGS, CONNECTION_KWARGS, run
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.sampler import Sampler


def main():
    spec = dict(
        stop_file=dict(type="path", required=True),
        interval=dict(type="float", default=1.0),
        max_duration=dict(type="float", required=True),
        give_up_after=dict(type="float", default=60.0),
        origin=dict(type="float"),
        other_api_urls=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleModule(argument_spec=merge_specs(CONNECTION_ARGS, spec), supports_check_mode=True, **CONNECTION_KWARGS)

    def node_client(url):
        return EmqxClient(dict(module.params, api_url=url, api_version=module.params["api_version"]))

    run(module, lambda client: Sampler(client, module.params, node_client))


if __name__ == "__main__":
    main()
