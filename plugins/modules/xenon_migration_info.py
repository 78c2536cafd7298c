#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: xenon_migration_info
short_description: Report Xenon migration tasks, node-group health, document counts and blue/green parity
version_added: 0.1.0
description:
  - Lists every C(MigrationTaskService) task on the green node group with its stage, the counters that Xenon keeps
    only under C(<task>/stats), C(latestSourceUpdateTimeMicros) and C(taskInfo.failure).
  - Optionally reports the health of both node groups, the document count of each factory on blue and on green, and
    a parity check. In parity, every blue document, passed through the same transformation service, is on green with
    byte-equal content (C(document*) infrastructure fields left out); a SHA-256 checksum of each side is returned.
  - Never changes anything. The parity check calls the transformation service once per blue document, which only
    reads.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.xenon_connection
  - zerodowntime.cluster.xenon_connection.actiongroup_xenon
  - zerodowntime.cluster.attributes.info_module
options:
  source_node_group:
    description:
      - Node-group URI of the blue group. Needed for O(factories); also reports that group's health.
    type: str
  destination_node_group:
    description:
      - Node-group URI of the green group; reports its health.
    type: str
  factories:
    description:
      - Factories to count (and compare with O(parity)); links or dicts with C(source) and C(destination).
    type: list
    elements: raw
  transformation_service_link:
    description:
      - Transformation service the migration used; the parity check transforms blue documents with it.
    type: str
  query_spec:
    description:
      - The migration's extra C(querySpec); only matching blue documents are counted and compared.
    type: dict
  migration_options:
    description:
      - The migration's C(migrationOptions); C(USE_TRANSFORM_REQUEST) selects the v2 transformation contract.
    type: list
    elements: str
  parity:
    description:
      - Compare every document of each factory (reads all of them on both sides).
    type: bool
    default: false
  ignore_fields:
    description:
      - Content fields that the destination service sets by itself and that the parity check must skip.
    type: list
    elements: str
    default: []
requirements:
  - httpx
seealso:
  - module: zerodowntime.cluster.xenon_migration
"""

EXAMPLES = r"""
- name: Tasks on green, with their counters
  zerodowntime.cluster.xenon_migration_info:
    url: https://green1:8000
  register: migration

- name: Parity of every factory after the final delta
  zerodowntime.cluster.xenon_migration_info:
    url: https://green1:8000
    source_node_group: https://blue1:8000/core/node-groups/default
    destination_node_group: https://green1:8000/core/node-groups/default
    factories: [/core/examples]
    transformation_service_link: /app/transforms/example-v2
    parity: true
  register: parity
  failed_when: not parity.in_parity
"""

RETURN = r"""
migration_factory_started:
  description: Whether C(/management/migration-tasks) exists on green.
  returned: always
  type: bool
tasks:
  description: Every migration task on green.
  returned: always
  type: list
  elements: dict
  contains:
    task:
      description: Task selfLink.
      type: str
    stage:
      description: C(taskInfo.stage).
      type: str
    source_factory:
      description: C(sourceFactoryLink).
      type: str
    destination_factory:
      description: C(destinationFactoryLink).
      type: str
    continuous:
      description: C(continuousMigration).
      type: bool
    fetched:
      description: C(fetchedDocumentCount) stat.
      type: int
    processed:
      description: C(processedServiceCount) stat.
      type: int
    latest_source_update_time_micros:
      description: C(latestSourceUpdateTimeMicros).
      type: int
    failure:
      description: C(taskInfo.failure.message), or null.
      type: str
    stats:
      description: All known counters of the task.
      type: dict
node_groups:
  description: Health of the groups that were given (C(source), C(destination)).
  returned: always
  type: dict
factories:
  description: Per factory counts, and C(parity) when requested.
  returned: always
  type: list
  elements: dict
  contains:
    source_count:
      description: Matching documents on blue.
      type: int
    destination_count:
      description: Documents in the destination factory on green.
      type: int
    parity:
      description:
        - C(in_parity), C(expected_checksum), C(destination_checksum), counts and up to 20 ids each of C(missing),
          C(extra) and C(different) documents.
        - When O(query_spec) holds C(options=[INCLUDE_DELETED]), also C(source_deleted_count) (documents deleted on
          blue), C(deleted_live_count) and up to 20 ids in C(deleted_live) (deleted on blue but live on green). Parity
          then also requires that none is live on green.
      type: dict
in_parity:
  description: True when every factory is in parity.
  returned: when O(parity=true) and O(factories) is set
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import merge_specs
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.args import CONNECTION_ARGS, FACTORY_ARGS
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.info import gather
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.module import run


def argument_spec():
    return merge_specs(CONNECTION_ARGS, FACTORY_ARGS, dict(
        parity=dict(type="bool", default=False),
        ignore_fields=dict(type="list", elements="str", default=[]),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, lambda connection: gather(connection, module.params))


if __name__ == "__main__":
    main()
