#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: xenon_migration
short_description: Migrate Xenon factories from a blue node group to a green one with MigrationTaskService
version_added: 0.1.0
description:
  - Makes sure every document of each listed factory on the blue (source) node group has been copied to the
    green (destination) node group, by creating one C(MigrationTaskService) task per factory on green
    (C(POST /management/migration-tasks)) and waiting until each task is C(FINISHED) or C(FAILED).
  - Checks first that the migration factory is started on green (Xenon does not start it by default; a 404 gets a
    message that says how to start it), that both node groups have their quorum of AVAILABLE nodes and have
    converged, and that every source and destination factory exists.
  - B(Delta passes.) Xenon ignores C(latestSourceUpdateTimeMicros) in the body of a new task, so each pass after the
    first adds a C(documentUpdateTimeMicros > high-water mark) clause to the task's C(querySpec). The high-water mark
    is the largest C(latestSourceUpdateTimeMicros) of the C(FINISHED) tasks this module created earlier for the same
    node groups, factories, transformation and query (task ids C(zdt-<key>-<time>)). A COUNT query on blue decides
    whether anything is left; if not, no task is created and the result is unchanged.
  - B(Re-runs.) Re-sending a document that exists on green fails the task with 409 unless the destination factory is
    C(IDEMPOTENT_POST). Unless O(migration_options) is given, C(DELETE_AFTER) is added for destination factories
    that are not idempotent, so a pass that failed half way can simply be run again.
  - B(Owner loss.) Xenon replicates each task to every green node, but only its owner node runs the pass. If the owner
    leaves the green group mid-pass, the node that takes the task over keeps it C(CREATED) or C(STARTED) and never
    resumes the pass. While waiting, the module therefore watches the owner that started each task. When that owner
    has gone from the group's AVAILABLE nodes, or another node has become C(documentOwner), on two polls in a row and
    the task is still running, the task is reported as V(ORPHANED). The module then marks the task C(FAILED) on green
    and fails at once, naming the lost node and the way out, which is to re-run (a new task re-sends everything since the last
    finished pass). A slow pass keeps its owner, so the module keeps waiting for it. If the green node at O(url) stops
    answering, polling goes on through another green node of the group. Reads while waiting give up after 10 s (or
    O(request_timeout) if shorter) without retries of their own, because a read forwarded to an owner that was cut
    off the network hangs rather than fails; the next poll reads again.
  - B(An orphaned pass that resumes.) An owner that was cut off or frozen rather than stopped still has its pass. When
    it is back it owns the task again and the pass goes on where it was, writing documents it read before (nothing in
    Xenon stops a pass in flight). Before it creates a task, the module therefore reads the counters of every task it
    reported V(ORPHANED) twice, two poll intervals (at least 1 s) apart. If they moved, it starts nothing and fails,
    naming the task and its node; the way out is to wait until they stand still or to restart that node.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.xenon_connection
  - zerodowntime.cluster.xenon_connection.actiongroup_xenon
  - zerodowntime.cluster.wait
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
    details:
      - Runs the same checks and COUNT queries and reports in RV(factories[].expected) what would move; creates no
        task and does not wait.
  diff_mode:
    support: none
  idempotent:
    support: full
    description: When run twice in a row with the same options, the second run reports no change.
    details:
      - The second run finds nothing newer than the high-water mark and creates no task, unless documents changed
        on blue in between (then it moves exactly those and reports a change).
options:
  source_node_group:
    description:
      - Node-group URI of the blue (old) group, for example C(http://blue1:8000/core/node-groups/default). Sent as
        C(sourceNodeGroupReference); the module also reads blue through this node (COUNT queries).
    type: str
    required: true
  destination_node_group:
    description:
      - Node-group URI of the green (new) group, sent as C(destinationNodeGroupReference).
    type: str
    required: true
  factories:
    description:
      - Factories to migrate, one task each. An entry is a factory link (same path on both sides) or a dict with
        C(source) and C(destination) links (for a factory renamed in the new release).
    type: list
    elements: raw
    required: true
  transformation_service_link:
    description:
      - Path of a stateless transformation service that runs on every green node (C(transformationServiceLink)).
        With C(USE_TRANSFORM_REQUEST) in O(migration_options) the v2 contract is used, otherwise the legacy map.
    type: str
  query_spec:
    description:
      - Extra C(querySpec) for the tasks (for example C(resultLimit), or C(query.booleanClauses) to migrate a subset).
        The factory clause is added by Xenon; a bare top-level C(term) is wrapped into C(booleanClauses), because
        Xenon would silently drop it.
    type: dict
  migration_options:
    description:
      - C(migrationOptions) of the tasks, for example C(DELETE_AFTER), C(USE_TRANSFORM_REQUEST), C(ALL_VERSIONS),
        C(ESTIMATE_COUNT).
      - When not set, C(DELETE_AFTER) is used for non-idempotent destination factories and nothing otherwise.
      - With C(ALL_VERSIONS), Xenon reads each document's history on blue and replays it on green in version order.
        The first version is POSTed with C(xn-force-index-update), which drops the history green had for that
        document, and each later version is sent with its own action (PUT, PATCH, DELETE, or POST after a DELETE).
        Re-runs and delta passes therefore replay the whole history of each document they select, and
        RV(documents_moved) counts versions, not documents.
    type: list
    elements: str
  continuous:
    description:
      - Create continuous tasks (C(continuousMigration=true)) that Xenon re-runs every maintenance interval from their
        last C(latestSourceUpdateTimeMicros) (inclusive). An existing continuous task for the same stream is left as
        it is. Waiting ends when the first pass has ended.
    type: bool
    default: false
  repeat_until_at_most:
    description:
      - Run delta passes back to back, inside this one module run, until a pass moves at most this many documents;
        RV(documents_moved) is then the sum over every pass and RV(passes) lists them.
      - Use it for the live deltas before a maintenance window. Repeating the module with C(until) instead puts
        Ansible's per-task time between passes, and every pass then also copies the writes made during that time,
        so whether the passes ever get under the threshold would depend on how fast the controller is.
      - Fails, naming each pass's count, when O(max_passes) passes never got there, because blue takes writes faster than a
        pass copies them. Nothing is lost then; blue still serves.
      - Ignored in check mode, with O(continuous=true) and with O(wait=false).
    type: int
  max_passes:
    description:
      - How many passes O(repeat_until_at_most) may run before it gives up.
    type: int
    default: 10
  operation_timeout:
    description:
      - Seconds each request the task sends may take (C(operationTimeoutMicros)). This covers the node-group reads,
        the queries on blue, the transformation calls and every write to green. A request that takes longer fails
        the task.
      - Xenon's default is the host's operation timeout (usually 60 s). A page sends all its writes at once, so a
        large page on a busy green can time out; lower C(resultLimit) in O(query_spec) or raise this.
    type: float
  task_expiration:
    description:
      - Seconds until the tasks and their query pages expire (C(documentExpirationTimeMicros)). By default at least
        one day, more for large factories (three times the COUNT at 100 documents per second), because Xenon's
        10-minute query default breaks long migrations and the expired task would lose its high-water mark.
    type: int
notes:
  - Timestamp deltas assume the blue nodes' clocks are in step; a final parity check (M(zerodowntime.cluster.xenon_migration_info)
    with O(zerodowntime.cluster.xenon_migration_info#module:parity=true)) proves the result.
  - Deleted documents are not migrated unless O(query_spec) holds C(options=[INCLUDE_DELETED]). With it, the COUNT
    that decides whether a pass is needed includes deleted documents. Xenon POSTs each deleted document and then
    DELETEs it on green. But when such a POST fails (409 because green already has the document, live or deleted),
    Xenon ignores the failure and skips all the DELETEs of that page. So after each pass that was waited for, the
    module deletes on green every document that the pass found deleted on blue but that is still live on green, and
    reports how many in RV(factories[].deletions_completed).
  - Task documents are not persisted by Xenon; if every green node restarts, the next run is a full pass again.
requirements:
  - httpx
seealso:
  - module: zerodowntime.cluster.xenon_migration_info
"""

EXAMPLES = r"""
- name: Bulk copy while blue serves (later runs move only what changed)
  zerodowntime.cluster.xenon_migration:
    url: https://green1:8000
    source_node_group: https://blue1:8000/core/node-groups/default
    destination_node_group: https://green1:8000/core/node-groups/default
    factories:
      - /core/examples
      - source: /core/employees
        destination: /core/employees-v2
    transformation_service_link: /app/transforms/employee-v2
    username: admin@localhost
    password: "{{ xenon_password }}"
    wait_timeout: 3600
  register: pass1

- name: Delta passes back to back until a pass moves at most 100 documents (then open the window)
  zerodowntime.cluster.xenon_migration:
    url: https://green1:8000
    source_node_group: https://blue1:8000/core/node-groups/default
    destination_node_group: https://green1:8000/core/node-groups/default
    factories: [/core/examples]
    repeat_until_at_most: 100
    max_passes: 5
  register: delta
"""

RETURN = r"""
changed:
  description: Whether documents were moved (in check mode, whether some would be), or tasks created without waiting.
  returned: always
  type: bool
documents_moved:
  description:
    - Sum of C(processedServiceCount) over this run's tasks (versions with C(ALL_VERSIONS)).
    - Xenon adds a whole page to that count, and only once every document of the page has been written. So after a
      failed task, green may hold more documents than this number (those of the page that failed).
  returned: always
  type: int
documents_expected:
  description: Documents the COUNT queries on blue found to move before the tasks started.
  returned: always
  type: int
factories:
  description: One entry per factory.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: Source factory link.
      type: str
    destination:
      description: Destination factory link.
      type: str
    mode:
      description: V(full) (first pass), V(delta), V(skipped) (nothing to move), or V(continuous).
      type: str
    task:
      description: selfLink of the task on green, or null when skipped.
      type: str
    stage:
      description:
        - Last C(taskInfo.stage) seen (C(CREATED) while a first pass runs, C(FINISHED), C(FAILED)...).
        - V(ORPHANED) when the task's owner node left the green group while the pass ran (see the description), V(LOST)
          when the task disappeared from green.
      type: str
    since_micros:
      description: High-water mark the pass started from (0 for a full pass).
      type: int
    expected:
      description: Documents the COUNT query found for this pass.
      type: int
    fetched:
      description: C(fetchedDocumentCount) from the task's C(/stats).
      type: int
    processed:
      description:
        - C(processedServiceCount) from the task's C(/stats), counted by whole pages.
        - Stats live in the owner's memory. If the owner changes, the highest count seen so far is kept.
      type: int
    latest_source_update_time_micros:
      description: The task's C(latestSourceUpdateTimeMicros), the next pass's high-water mark.
      type: int
    elapsed:
      description: Seconds from creating the task to seeing it end.
      type: float
    failure:
      description: C(taskInfo.failure.message) of a failed task.
      type: str
    owner:
      description: C(documentOwner) of the task when it started, the green node that ran its pass.
      type: str
    deletions_completed:
      description:
        - With C(INCLUDE_DELETED), documents deleted on blue that the pass left live on green and that the module
          then deleted on green.
      type: int
    migration_options:
      description: C(migrationOptions) sent.
      type: list
      elements: str
    key:
      description: Id of the migration stream (part of the task ids).
      type: str
node_groups:
  description: What the pre-flight check saw of each node group (nodes, AVAILABLE ones, quorum, convergence).
  returned: always
  type: dict
passes:
  description: With O(repeat_until_at_most), one entry per pass, in order.
  returned: when O(repeat_until_at_most) is set
  type: list
  elements: dict
  contains:
    documents_moved:
      description: Documents the pass moved.
      type: int
    documents_expected:
      description: Documents its COUNT queries found to move.
      type: int
    elapsed:
      description: Seconds the pass's longest task ran.
      type: float
timeline:
  description: Samples taken while waiting (seconds, stage per factory, documents processed).
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds the module ran.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import WAIT_ARGS, merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.args import CONNECTION_ARGS, FACTORY_ARGS
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.migration import Migration
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.module import run


def argument_spec():
    spec = merge_specs(CONNECTION_ARGS, WAIT_ARGS, FACTORY_ARGS, dict(
        continuous=dict(type="bool", default=False),
        task_expiration=dict(type="int"),
        operation_timeout=dict(type="float"),
        repeat_until_at_most=dict(type="int"),
        max_passes=dict(type="int", default=10, no_log=False),
    ))
    for name in ("source_node_group", "destination_node_group", "factories"):
        spec[name]["required"] = True
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, lambda connection: Migration(connection, module.params, check_mode=module.check_mode).run())


if __name__ == "__main__":
    main()
