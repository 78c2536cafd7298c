#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_operator_info
short_description: Read the EMQX Operator, its CRDs and an EMQX resource, and name the hazards for an update
version_added: 0.1.0
description:
  - Returns the installed versions of the C(emqxes.apps.emqx.io) and C(rebalances.apps.emqx.io) CRDs (served and
    storage), the EMQX Operator's version (the image tag of its controller Deployment), and with O(name) a summary
    of that C(EMQX) resource - image, revisions, conditions, core and replicant nodes with edition, version,
    connections and sessions, evacuations, and the update strategy with the operator's defaults applied.
  - Lists hazards for a blue-green update (RV(hazards)) - an operator older than 2.2.29, a custom C(clusterDomain),
    nodes that are not Enterprise (they cannot be evacuated, so sessions are dropped), stopped nodes still listed,
    evacuations already running, and a C(Rebalance) in C(Processing).
  - The operator's Deployment is found by its label C(control-plane=controller-manager) in every namespace (or in
    O(operator_namespace) when listing every namespace is not allowed), or by O(operator_name).
  - Without the right to read CustomResourceDefinitions, API discovery tells which versions are served; the storage
    version is then unknown.
  - Never changes anything.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.emqx_operator_connection
  - zerodowntime.cluster.emqx_operator_connection.actiongroup_emqx_operator
  - zerodowntime.cluster.attributes.info_module
attributes:
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  name:
    description: Name of the C(EMQX) resource to summarize. Without it only the operator and its CRDs are read.
    type: str
  namespace:
    description: Namespace of that resource (and of the C(Rebalance) resources that are read).
    type: str
    default: default
  operator_namespace:
    description:
      - Namespace of the operator's Deployment. Default - search every namespace, then C(emqx-operator-system).
    type: str
  operator_name:
    description:
      - Name of the operator's Deployment (in O(operator_namespace), default C(emqx-operator-system)), when it does
        not carry the usual labels.
    type: str
notes:
  - C(connections) in the node entries are connected clients (EMQX's C(live_connections)) and C(sessions) are
    EMQX's C(connections), as in M(zerodowntime.cluster.emqx_cluster_info).
  - O(name) needs C(apps.emqx.io/v2beta1) to be served.
seealso:
  - module: zerodowntime.cluster.emqx_operator_update
  - module: zerodowntime.cluster.emqx_operator_rebalance
"""

EXAMPLES = r"""
- name: What is installed, and is the resource fit for an update?
  zerodowntime.cluster.emqx_operator_info:
    name: emqx-ee
    namespace: emqx
  register: emqx_op

- name: Refuse an old operator
  ansible.builtin.assert:
    that: emqx_op.hazards | selectattr('id', 'equalto', 'operator_too_old') | list | length == 0
    fail_msg: "{{ emqx_op.hazards | map(attribute='message') | join('; ') }}"

- name: Show the strategy the operator will use
  ansible.builtin.debug:
    var: emqx_op.emqx.update_strategy
"""

RETURN = r"""
crds:
  description: The operator's CRDs, under C(emqxes) and C(rebalances).
  returned: always
  type: dict
  contains:
    emqxes:
      description: C(installed), C(source) (V(crd) or V(discovery)), C(versions) (C(name), C(served), C(storage)), C(served)
        (list of version names), C(storage) (the storage version, null when unknown).
      type: dict
    rebalances:
      description: The same for C(rebalances.apps.emqx.io).
      type: dict
operator:
  description:
    - The operator's controller - C(found), and when found C(namespace), C(name), C(image), C(version) (null when the
      tag is not a version), C(replicas), C(ready_replicas), C(source) (V(label) or V(named)); when not found, C(reason).
  returned: always
  type: dict
  sample: {found: true, namespace: emqx-operator-system, name: emqx-operator-controller-manager,
           image: "emqx/emqx-operator-controller:2.2.29", version: 2.2.29, replicas: 1, ready_replicas: 1, source: label}
emqx:
  description: Summary of the C(EMQX) resource; null when O(name) is not given or the resource does not exist.
  returned: always
  type: dict
  contains:
    image:
      description: C(spec.image).
      type: str
    cluster_domain:
      description: C(spec.clusterDomain) (V(cluster.local) when unset).
      type: str
    conditions:
      description: C(status.conditions) (C(type), C(status), C(reason), C(message), C(last_transition_time)), newest first.
      type: list
      elements: dict
    true_conditions:
      description: Types of the conditions that are true.
      type: list
      elements: str
    ready:
      description: Whether C(Ready) is true.
      type: bool
    available:
      description: Whether C(Available) is true.
      type: bool
    updated:
      description: Whether C(currentRevision) equals C(updateRevision) (core, and replicants when there are any).
      type: bool
    revisions:
      description: C(core) and C(replicant) (null without replicants) with C(current), C(update), C(replicas),
        C(ready_replicas), C(current_replicas), C(update_replicas).
      type: dict
    nodes:
      description: Core and replicant nodes - C(name), C(role), C(status), C(version), C(edition), C(connections), C(sessions).
      type: list
      elements: dict
    running_nodes:
      description: Names of running nodes.
      type: list
      elements: str
    stopped_nodes:
      description: Names of listed nodes that are not running.
      type: list
      elements: str
    versions:
      description: Distinct versions of the running nodes.
      type: list
      elements: str
    editions:
      description: Distinct editions of the running nodes.
      type: list
      elements: str
    total_connections:
      description: Connected clients on the running nodes.
      type: int
    total_sessions:
      description: Sessions on the running nodes.
      type: int
    evacuations:
      description: C(status.nodeEvacuationsStatus) - C(node), C(state), C(connections_left), C(sessions_left),
        C(initial_connections), C(initial_sessions), C(connection_eviction_rate), C(session_eviction_rate).
      type: list
      elements: dict
    update_strategy:
      description:
        - The update strategy with the operator's defaults applied, in the option names of
          M(zerodowntime.cluster.emqx_operator_update) - C(type), C(initial_delay_seconds), C(conn_evict_rate),
          C(sess_evict_rate), C(wait_takeover), C(wait_health_check), C(wait_health_check_configurable).
        - C(wait_health_check) is what EMQX waits before evicting - 60 seconds on operator 2.2 whatever the spec says
          (C(wait_health_check_ignored) then holds the spec's value); an unknown operator version counts as 2.2.
      type: dict
    update_strategy_set:
      description: Only the update strategy fields the spec sets, in the same option names.
      type: dict
rebalances:
  description: C(Rebalance) resources for this instance - C(name), C(instance_name), C(phase), C(started_time), C(completed_time).
  returned: always
  type: list
  elements: dict
hazards:
  description:
    - What makes a blue-green update unsafe - C(id), C(pitfall) (number in the collection's EMQX reference, or null),
      C(message).
    - C(id) is one of V(operator_not_found), V(operator_version_unknown), V(operator_too_old), V(custom_cluster_domain),
      V(not_enterprise), V(stopped_nodes), V(evacuation_running), V(rebalance_processing).
  returned: always
  type: list
  elements: dict
api_version:
  description: The C(apps.emqx.io) version the resource was read in (null without O(name)).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.connection import (
    K8S_ARGS,
    KUBERNETES_IMPORT_ERROR,
    connect,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.info import read_info


def argument_spec():
    return merge_specs(K8S_ARGS, dict(
        name=dict(type="str"),
        namespace=dict(type="str", default="default"),
        operator_namespace=dict(type="str"),
        operator_name=dict(type="str"),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if KUBERNETES_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))

    def work():
        result = read_info(connect(module.params), module.params)
        result["changed"] = False
        return result

    run_and_exit(module, work, [module.params.get("api_key")])


if __name__ == "__main__":
    main()
