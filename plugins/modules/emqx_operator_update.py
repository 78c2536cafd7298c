#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: emqx_operator_update
short_description: Change an EMQX resource of the EMQX Operator and supervise its blue-green update
version_added: 0.1.0
description:
  - Sets the image, the update strategy and other spec fields of an C(apps.emqx.io) C(EMQX) resource with a JSON
    merge patch, and with O(wait=true) follows the operator's blue-green update until it finishes.
  - A change of the pod template (image, C(coreTemplate), C(replicantTemplate), C(clusterDomain)) makes the operator
    start new nodes, switch traffic, evacuate the old nodes one by one and remove them. Replica counts and the update
    strategy are changed in place, without a blue-green update.
  - The v2beta1 status carries no C(observedGeneration) and C(Ready) stays true until the operator's next reconcile,
    so the module first waits for C(updateRevision) to change (or C(Ready) to disappear) and only then for C(Ready)
    with C(currentRevision) equal to C(updateRevision).
  - While waiting it samples C(status.nodeEvacuationsStatus) (connections and sessions left on the node being
    evacuated, with an ETA) and fails with a precise reason when nothing moves for O(stall_timeout) seconds - new
    nodes that never become ready (a bad image), an evacuation that does not finish, old nodes left in the cluster -
    or within seconds when the old revision scales up again and stays up (the operator's scale-up loop, fixed in
    2.2.29; a single look that counts a stopping old node once more is not that).
  - Refuses a template change when C(clusterDomain) is not C(cluster.local) unless O(allow_custom_cluster_domain=true)
    - the operator (2.2) then removes old core nodes without evacuating them.
  - While it waits it prints a progress line every O(progress_interval) seconds - phase, percent, elapsed time and an
    ETA that counts down (see O(progress_interval)). C(delegate_to) and the task's connection apply to every run.
  - With O(stop_stale_evacuations=true) and an EMQX API (O(emqx_api_url)), it reads C(global_status) while waiting
    and stops every evacuation the operator did not start - already listed when the task changed a C(Ready) resource,
    listed before the new revision is C(Available), on a node that was not running when the task started, or still
    listed once the resource is C(Ready). The operator takes
    the first evacuation listed for its own, so one started by hand for maintenance and never stopped holds every
    scale-down of the update; and an evacuation is kept in the node's data directory, so a pod restarted on volumes
    of an evacuated node resumes evacuating and refuses clients. Each stop is returned in RV(stopped_evacuations) and
    shown as a warning.
  - A rollback is a change back to the old template. Before the update is C(Available) the operator only moves
    C(updateRevision) back to the old nodes, which never stopped. Once it was C(Available) (or has finished), the old
    StatefulSet is not scaled back up - its create fails with AlreadyExists, the operator counts a collision
    (C(status.coreNodesStatus.collisionCount)) and starts the old template as a new set under a new hash with empty
    volumes, then drains every other set into it. RV(after.collision_count) above RV(before.collision_count) says so.
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
      - Reports which fields would change and whether that starts a blue-green update; patches and waits nothing
        (the module runs once).
  diff_mode:
    support: full
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
options:
  name:
    description: Name of the EMQX resource.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    default: default
  api_version:
    description: Version of C(apps.emqx.io) to use; V(auto) takes the newest one served that this module knows.
    type: str
    choices: [auto, v2beta1]
    default: auto
  image:
    description: The EMQX image (C(spec.image)). Changing it starts a blue-green update.
    type: str
  update_strategy:
    description: C(spec.updateStrategy) fields to set.
    type: dict
    suboptions:
      initial_delay_seconds:
        description: Seconds between the new nodes becoming Available and the first evacuation.
        type: int
      conn_evict_rate:
        description: Connections per second evicted from each old node.
        type: int
      sess_evict_rate:
        description: Sessions per second migrated from each old node.
        type: int
      wait_takeover:
        description: Seconds between connection and session eviction, and before removing a node without sessions.
        type: int
      wait_health_check:
        description:
          - Seconds an old node fails its health check before evicting. Operator 2.3 and later only - the CRD of 2.2
            has no such field, so the task fails before changing anything (2.2 always lets EMQX wait 60 s).
        type: int
  spec:
    description: Other spec fields to merge in (JSON merge patch semantics; V(null) removes a field).
    type: dict
  stall_timeout:
    description: Fail when the update shows no progress for this many seconds.
    type: int
    default: 300
  allow_custom_cluster_domain:
    description: Update even though C(clusterDomain) is not C(cluster.local) (old core nodes lose their sessions).
    type: bool
    default: false
  stop_stale_evacuations:
    description:
      - While waiting, stop evacuations that the operator did not start (see the description). Needs O(emqx_api_url).
    type: bool
    default: false
  emqx_api_url:
    description:
      - EMQX management API (for instance the dashboard Service) for O(stop_stale_evacuations). When it does not
        answer, the module keeps waiting and asks again 10 seconds later; what failed is in RV(evacuation_api_errors).
      - Can also be set with the E(EMQX_API_URL) environment variable.
    type: str
  progress_interval:
    description:
      - Seconds between two progress lines while the task waits. An action plugin on the controller runs this module
        again and again, each run waiting for up to this long, and prints after each run where the update stands - the
        phase (new revision pods ready, evacuations with the connections and sessions left on each old pod, old pods
        deleted), percent, elapsed time and an ETA that counts down.
      - Every run after the first only observes; the deadline (O(wait_timeout)) and the stall clock (O(stall_timeout))
        run on from the first. The result is that of one wait.
      - With O(poll_interval) longer than this, every observation prints a line.
    type: float
    default: 10.0
  wait_slice:
    description:
      - Internal, set by the action plugin between its runs of the module - do not set it. The state of a wait the
        previous run handed over, with the time that has passed and the time left; with it the module changes nothing
        and goes on with that wait for up to O(progress_interval) seconds. Without it (the module run on its own) the
        whole wait happens in one run.
    type: dict
seealso:
  - module: zerodowntime.cluster.emqx_operator_info
  - module: zerodowntime.cluster.emqx_operator_rebalance
"""

EXAMPLES = r"""
- name: Upgrade EMQX through the operator's blue-green update
  zerodowntime.cluster.emqx_operator_update:
    name: emqx-ee
    namespace: emqx
    image: emqx/emqx-enterprise:5.10.4
    update_strategy:
      initial_delay_seconds: 10
      conn_evict_rate: 1000
      sess_evict_rate: 1000
      wait_takeover: 10
    wait_timeout: 3600
    stall_timeout: 600
    progress_interval: 30
  register: update

- name: Roll back to the previous image, stopping evacuations that come back with the old nodes' volumes
  zerodowntime.cluster.emqx_operator_update:
    name: emqx-ee
    namespace: emqx
    image: emqx/emqx-enterprise:5.8.6
    stop_stale_evacuations: true
    emqx_api_url: http://emqx-ee-dashboard.emqx.svc:18083
    emqx_api_key: "{{ emqx_api_key }}"
    emqx_api_secret: "{{ emqx_api_secret }}"
    wait_timeout: 3600

- name: Show what moved
  ansible.builtin.debug:
    msg: "{{ update.evacuated_nodes }} evacuated in {{ update.elapsed }} s"
"""

RETURN = r"""
api_version:
  description: The C(apps.emqx.io) version used.
  returned: success
  type: str
changed_fields:
  description: Spec paths that were (or in check mode would be) changed.
  returned: success
  type: list
  elements: str
blue_green:
  description: Whether the change is a pod-template change, which the operator rolls out as a blue-green update.
  returned: success
  type: bool
before:
  description: The resource before the task.
  returned: success
  type: dict
  contains:
    spec:
      description: The spec.
      type: dict
    revisions:
      description: C(current) and C(update), the core nodes' C(currentRevision) and C(updateRevision).
      type: dict
    collision_count:
      description: The operator's C(status.coreNodesStatus.collisionCount), 0 when it has none.
      type: int
after:
  description: The resource after the task.
  returned: success, except in check mode
  type: dict
  contains:
    spec:
      description: The spec.
      type: dict
    revisions:
      description: C(current) and C(update), the core nodes' C(currentRevision) and C(updateRevision).
      type: dict
    collision_count:
      description: The operator's C(status.coreNodesStatus.collisionCount), 0 when it has none; higher than before means
        the operator started the template as a new set with empty volumes.
      type: int
timeline:
  description: Samples while waiting (C(t), C(conditions), C(current_replicas), C(update_replicas), C(evacuations),
    C(remaining), C(eta_seconds)).
  returned: when waited
  type: list
  elements: dict
evacuated_nodes:
  description: Nodes seen under evacuation during the update.
  returned: when waited
  type: list
  elements: str
elapsed:
  description: Seconds spent waiting.
  returned: when waited
  type: float
hazards:
  description: Hazards noticed before the change (also shown as warnings).
  returned: success
  type: list
  elements: str
stopped_evacuations:
  description: Evacuations the operator did not start that were stopped while waiting (C(t), C(node), C(state), C(reason)).
  returned: with O(stop_stale_evacuations=true)
  type: list
  elements: dict
evacuation_api_errors:
  description: Failures to read or stop evacuations through O(emqx_api_url) while waiting (C(t), C(error)).
  returned: with O(stop_stale_evacuations=true)
  type: list
  elements: dict
last_observed:
  description: The EMQX resource as last seen, on failure while waiting.
  returned: on failure
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import WAIT_ARGS, check_wait_params, merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.connection import (
    K8S_ARGS,
    KUBERNETES_IMPORT_ERROR,
    connect,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.emqx import EMQX_API_ARGS, EMQX_API_TOGETHER, emqx_api_factory
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.resources import Objects, resolve
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.stale import StaleEvacuations
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.update import (
    EmqxUpdate,
    continue_unreachable,
    update_problems,
)


def argument_spec():
    return merge_specs(K8S_ARGS, WAIT_ARGS, dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        api_version=dict(type="str", default="auto", choices=["auto", "v2beta1"]),
        image=dict(type="str"),
        update_strategy=dict(type="dict", options=dict(
            initial_delay_seconds=dict(type="int"),
            conn_evict_rate=dict(type="int"),
            sess_evict_rate=dict(type="int"),
            wait_takeover=dict(type="int"),
            wait_health_check=dict(type="int"),
        )),
        spec=dict(type="dict"),
        stall_timeout=dict(type="int", default=300),
        allow_custom_cluster_domain=dict(type="bool", default=False),
        stop_stale_evacuations=dict(type="bool", default=False),
        progress_interval=dict(type="float", default=10.0),
        wait_slice=dict(type="dict"),
    ), EMQX_API_ARGS)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_one_of=[("image", "update_strategy", "spec")],
                           required_if=[("stop_stale_evacuations", True, ("emqx_api_url",))],
                           required_together=EMQX_API_TOGETHER)
    if KUBERNETES_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    problems = check_wait_params(module.params)
    problems.extend(update_problems(module.params))
    if problems:
        module.fail_json(msg="; ".join(problems))
    wait_slice = module.params["wait_slice"]
    going_on = bool(wait_slice and wait_slice.get("state")) and not module.check_mode

    def work():
        try:
            client = connect(module.params)
            resource, version = resolve(client, "EMQX", module.params["api_version"])
        except ApiError as exc:
            if going_on:  # the API server is away for a moment: the wait goes on until its deadline
                return continue_unreachable(wait_slice, module.params, exc)
            raise
        stale = None
        if module.params["stop_stale_evacuations"]:
            stale = StaleEvacuations(emqx_api_factory(module.params), time.monotonic)
        result = EmqxUpdate(Objects(resource, module.params["namespace"]), module.params, check_mode=module.check_mode,
                            stale=stale, wait_slice=wait_slice).run()
        result["api_version"] = "apps.emqx.io/%s" % version
        for hazard in result.get("hazards") or []:
            module.warn(hazard)
        for stopped in result.get("stopped_evacuations") or []:
            module.warn("stopped the evacuation of %s (state %s) after %ss: %s - the operator takes the first evacuation "
                        "listed for its own and would have waited on it" % (
                            stopped["node"], stopped["state"], stopped["t"], stopped["reason"]))
        return result

    run_and_exit(module, work, [module.params.get("api_key"), module.params.get("emqx_api_secret")])


if __name__ == "__main__":
    main()
