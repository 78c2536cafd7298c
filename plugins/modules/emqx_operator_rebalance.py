#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_operator_rebalance
short_description: Run an EMQX Operator Rebalance on Kubernetes and wait for its outcome
version_added: 0.1.0
description:
  - Manages a C(Rebalance) custom resource of the EMQX Operator (C(apps.emqx.io)), which makes the operator start
    an EMQX load rebalance among the nodes of an C(EMQX) (or C(EmqxEnterprise)) resource.
  - Detects which API version of the Rebalance CRD the cluster serves (V(v2beta1), else the deprecated V(v1beta4)).
  - V(present) creates the Rebalance and, with O(wait=true), waits until the operator reports phase C(Completed)
    (success) or C(Failed) (the task fails with the operator's message, for instance C(nothing_to_balance) or a target
    that is not Ready).
  - A Rebalance spec is immutable (the operator's webhook rejects changes) and a Rebalance runs once. When one with
    the same name but another spec exists the task fails and lists the differences, unless O(recreate=true), which
    deletes it and creates a new one.
  - The operator reports C(Completed) also when EMQX aborted the rebalance (a participant crashed). When
    O(emqx_api_url) and credentials are given, the module compares the nodes' counts afterwards with the CR's
    thresholds, like M(zerodowntime.cluster.emqx_rebalance), and fails with RV(rebalance_outcome=aborted) when the
    cluster is not balanced.
  - The operator marks a Rebalance C(Failed) ("Failed to get rebalance status") after one failed call to EMQX's API
    while it is C(Processing), and never looks at it again, while EMQX goes on rebalancing. Operator 2.2 does the same
    ("EMQX NAME is not ready") to every rebalance that outlasts the EMQX resource's next reconcile (up to 30 s) - donors
    answer 503 to C(availability_check) while they give clients away, their pods' readiness gate turns false, the
    resource loses C(Ready), and the Rebalance controller checks C(Ready) first. With O(emqx_api_url) the
    module then follows EMQX's own rebalance to its end and decides the outcome from the node counts, returning the
    operator's verdict beside it (RV(operator_verdict)) with a warning; without it the task fails and says how to
    follow or stop the rebalance in EMQX.
  - V(absent) deletes the Rebalance; the operator stops a rebalance still running and removes its finalizer. A 2.2
    operator stops it at the coordinator its first look (about 5 s after the start) names in C(status.rebalanceStates);
    deleting before that look crashes the operator (an index out of range it does not recover from), so the module
    waits for that look before it deletes a C(Processing) Rebalance, here and for O(recreate).
  - A 2.2 operator checks that the target is C(Ready) before it handles a deletion. While it is not, it keeps the
    finalizer and marks the Rebalance C(Failed), so it will not stop the rebalance later. The task then fails at once
    and says so, after stopping EMQX's rebalance through its API when O(emqx_api_url) is given.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_operator_connection
  - zerodowntime.cluster.emqx_operator_connection.emqx_api
  - zerodowntime.cluster.emqx_operator_connection.actiongroup_emqx_operator
  - zerodowntime.cluster.wait
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the Rebalance and reports what would be created, recreated or deleted; writes and waits nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
    details:
      - An existing Rebalance with the same spec is left alone, whatever its phase. To run another rebalance use a
        new O(name), or O(state=absent) first.
options:
  name:
    description: Name of the Rebalance resource.
    type: str
    required: true
  namespace:
    description: Namespace of the Rebalance and of its target.
    type: str
    default: default
  state:
    description:
      - V(present) - the Rebalance exists (and, with O(wait), has finished).
      - V(absent) - it does not exist (with O(wait), its finalizer has been removed).
    type: str
    choices: [present, absent]
    default: present
  api_version:
    description: Version of C(apps.emqx.io) to use. V(auto) takes V(v2beta1) when served, else V(v1beta4).
    type: str
    choices: [auto, v2beta1, v1beta4]
    default: auto
  instance_name:
    description: The EMQX resource to rebalance (same namespace). Required with O(state=present).
    type: str
  instance_kind:
    description: Kind of the target; V(EmqxEnterprise) is the EMQX 4.4 resource of the operator's v1beta4 API.
    type: str
    choices: [EMQX, EmqxEnterprise]
    default: EMQX
  conn_evict_rate:
    description: Connections each donor disconnects per second (C(connEvictRate)). Required with O(state=present).
    type: int
  sess_evict_rate:
    description: Disconnected sessions each donor hands over per second. Operator default 500.
    type: int
  wait_takeover:
    description: Seconds between connection and session eviction. Operator default 60.
    type: int
  wait_health_check:
    description: Seconds donors fail the availability check before evicting. Operator default 60.
    type: int
  abs_conn_threshold:
    description: Balanced when the donors' average connections exceed the recipients' by at most this. Operator default 1000.
    type: int
  rel_conn_threshold:
    description: Or when the donors' average is at most this many times the recipients'. Above 1.0. Operator default 1.1.
    type: str
  abs_sess_threshold:
    description: Absolute threshold for sessions. Operator default 1000.
    type: int
  rel_sess_threshold:
    description: Relative threshold for sessions, above 1.0. Operator default 1.1.
    type: str
  recreate:
    description: When a Rebalance with this name exists with another spec, delete it and create a new one.
    type: bool
    default: false
  emqx_api_url:
    description:
      - EMQX management API (for instance the dashboard Service), used after C(Completed) to tell a balanced cluster
        from an aborted rebalance. Without it the module trusts the operator's phase and returns
        RV(rebalance_outcome=null).
      - Can also be set with the E(EMQX_API_URL) environment variable.
    type: str
notes:
  - The operator needs the target to be C(Ready) and Enterprise; otherwise the Rebalance fails at once.
  - With the default thresholds (1000 connections) small clusters are usually already balanced, which the operator
    reports as C(Failed) (EMQX answers C(nothing_to_balance) with HTTP 400).
seealso:
  - module: zerodowntime.cluster.emqx_rebalance
"""

EXAMPLES = r"""
- name: Rebalance after scaling out, and check the result against EMQX itself
  zerodowntime.cluster.emqx_operator_rebalance:
    name: rebalance-after-scale-out
    namespace: emqx
    instance_name: emqx-ee
    conn_evict_rate: 10
    sess_evict_rate: 10
    wait_takeover: 10
    wait_health_check: 10
    abs_conn_threshold: 100
    rel_conn_threshold: "1.1"
    emqx_api_url: https://emqx-dashboard.emqx.svc:18083
    emqx_api_key: "{{ emqx_api_key }}"
    emqx_api_secret: "{{ emqx_api_secret }}"
    wait_timeout: 1800
  register: rebalance

- name: Remove it (stops it if it still runs)
  zerodowntime.cluster.emqx_operator_rebalance:
    name: rebalance-after-scale-out
    namespace: emqx
    state: absent
"""

RETURN = r"""
api_version:
  description: The C(apps.emqx.io) version used.
  returned: success
  type: str
  sample: apps.emqx.io/v2beta1
before:
  description: The Rebalance before the task (C(name), C(namespace), C(spec), C(phase), C(conditions), C(rebalance_states),
    C(started_time), C(completed_time), C(deleting)), or null.
  returned: success
  type: dict
after:
  description: The Rebalance after the task, same keys as RV(before), or null when absent.
  returned: success
  type: dict
recreated:
  description: An existing Rebalance with another spec was (or in check mode would be) deleted and created again.
  returned: when it happened
  type: bool
differences:
  description: The spec fields that differ from the existing Rebalance.
  returned: when the spec differs
  type: list
  elements: str
rebalance_outcome:
  description: V(balanced) when the Rebalance completed and EMQX's node counts meet its thresholds; null when not
    checked (no O(emqx_api_url), or the Rebalance had already finished before this task). The task fails with
    V(aborted) when it completed with the cluster unbalanced or a participant stopped.
  returned: when waited for O(state=present)
  type: str
followed:
  description: V(emqx) when the operator lost track of the rebalance and the module followed EMQX's own instead.
  returned: when the operator marked the Rebalance Failed after a failed status read and O(emqx_api_url) was given
  type: str
  sample: emqx
operator_verdict:
  description: The CR's phase and message when the module followed EMQX instead of the operator.
  returned: when RV(followed) is returned
  type: dict
  sample: {phase: Failed, message: "Failed to get rebalance status: request api failed: 503 Service Unavailable"}
balance:
  description: Per-node live connections and disconnected sessions, donor and recipient averages and thresholds.
  returned: when the outcome was checked
  type: dict
timeline:
  description: Samples taken while waiting (C(t), C(phase), C(state), C(donors), C(recipients)).
  returned: when waited for O(state=present)
  type: list
  elements: dict
elapsed:
  description: Seconds spent waiting.
  returned: when waited
  type: float
last_observed:
  description: The last Rebalance seen, on failure while waiting.
  returned: on failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import WAIT_ARGS, check_wait_params, merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.connection import (
    K8S_ARGS,
    KUBERNETES_IMPORT_ERROR,
    connect,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.emqx import EMQX_API_ARGS, EMQX_API_TOGETHER, emqx_api_factory
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.rebalance import OperatorRebalance
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.resources import Objects, resolve


def argument_spec():
    return merge_specs(K8S_ARGS, WAIT_ARGS, dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        api_version=dict(type="str", default="auto", choices=["auto", "v2beta1", "v1beta4"]),
        instance_name=dict(type="str"),
        instance_kind=dict(type="str", default="EMQX", choices=["EMQX", "EmqxEnterprise"]),
        conn_evict_rate=dict(type="int"),
        sess_evict_rate=dict(type="int"),
        wait_takeover=dict(type="int"),
        wait_health_check=dict(type="int"),
        abs_conn_threshold=dict(type="int"),
        rel_conn_threshold=dict(type="str"),
        abs_sess_threshold=dict(type="int"),
        rel_sess_threshold=dict(type="str"),
        recreate=dict(type="bool", default=False),
    ), EMQX_API_ARGS)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(), supports_check_mode=True,
        required_if=[("state", "present", ("instance_name", "conn_evict_rate"))],
        required_together=EMQX_API_TOGETHER,
    )
    if KUBERNETES_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    problems = check_wait_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))

    def work():
        client = connect(module.params)
        resource, version = resolve(client, "Rebalance", module.params["api_version"])
        return OperatorRebalance(Objects(resource, module.params["namespace"]), module.params, check_mode=module.check_mode,
                                 emqx_api=emqx_api_factory(module.params), version=version).run()

    run_and_exit(module, work, [module.params.get("api_key"), module.params.get("emqx_api_secret")])


if __name__ == "__main__":
    main()
