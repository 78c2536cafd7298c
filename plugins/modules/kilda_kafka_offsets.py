#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kilda_kafka_offsets
short_description: Remove the Kafka consumer-group offsets of an Open Kilda colour after a blue/green upgrade
description:
  - The post-deployment step of Open Kilda's zero-downtime procedure. Deletes the consumer groups (and with them
    their committed offsets) that belong to one colour, so that the next release of that colour creates them again.
  - "Selected: the Storm spout groups C([<prefix>_]<topology>_<colour>__<spout id>) and C([<prefix>_]grpc-speaker-consumer-<colour>),
    plus O(groups) and O(patterns)."
  - Never deleted, even when a pattern matches it, C(northbound-consumer), which both colours share on purpose.
    Floodlight and server42 groups carry no colour and are not selected.
  - A group that still has members cannot be deleted; terminate the colour's topologies first.
version_added: 0.1.0
author:
  - zerodowntime.cluster contributors (@zerodowntime)
requirements:
  - confluent-kafka >= 2.6
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
    details: Lists the groups and reports which would be deleted; deletes nothing.
  diff_mode:
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  bootstrap_servers:
    description:
      - Kafka bootstrap servers, C(host:port[,host:port...]). Falls back to E(KILDA_KAFKA_BOOTSTRAP_SERVERS).
    type: str
    required: true
  colour:
    description: The colour whose groups are removed (the old one, after promotion).
    type: str
    required: true
  naming_prefix:
    description: Kilda's Kafka naming prefix (C(kilda_environment_naming_prefix)); empty when none.
    type: str
    default: ""
  topologies:
    description: Storm topology names whose spout groups belong to the colour. Defaults to Kilda's 15 topologies.
    type: list
    elements: str
  groups:
    description: Further group names to delete when they exist.
    type: list
    elements: str
    default: []
  patterns:
    description: Further regular expressions (Python syntax, searched) of groups to delete.
    type: list
    elements: str
    default: []
  request_timeout:
    description: Seconds each Kafka admin request may take.
    type: float
    default: 15.0
  security_protocol:
    description: C(security.protocol) of the admin client. Falls back to E(KILDA_KAFKA_SECURITY_PROTOCOL).
    type: str
    choices: [PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL]
  sasl_mechanism:
    description: C(sasl.mechanism), for example C(PLAIN) or C(SCRAM-SHA-512). Falls back to E(KILDA_KAFKA_SASL_MECHANISM).
    type: str
  sasl_username:
    description: SASL user. Falls back to E(KILDA_KAFKA_SASL_USERNAME).
    type: str
  sasl_password:
    description: SASL password. Falls back to E(KILDA_KAFKA_SASL_PASSWORD).
    type: str
  ssl_ca_location:
    description: CA bundle to verify the brokers. Falls back to E(KILDA_KAFKA_SSL_CA_LOCATION).
    type: path
seealso:
  - module: zerodowntime.cluster.kilda_zk_signal
"""

EXAMPLES = r"""
- name: After promoting green, forget blue's consumer offsets
  zerodowntime.cluster.kilda_kafka_offsets:
    bootstrap_servers: kafka1:9092,kafka2:9092
    colour: blue
"""

RETURN = r"""
changed:
  description: Whether any group was (or in check mode would be) deleted.
  returned: always
  type: bool
deleted:
  description: Groups deleted (or, in check mode, that would be deleted).
  returned: always
  type: list
  elements: str
  sample: [flowhs_blue__kafka-spout, grpc-speaker-consumer-blue]
kept:
  description: Every other group found on the cluster.
  returned: always
  type: list
  elements: str
failed:
  description: Group name to the broker's error, for groups that could not be deleted.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import kafka_groups


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bootstrap_servers=dict(type="str", required=True, fallback=(env_fallback, ["KILDA_KAFKA_BOOTSTRAP_SERVERS"])),
            colour=dict(type="str", required=True),
            naming_prefix=dict(type="str", default=""),
            topologies=dict(type="list", elements="str"),
            groups=dict(type="list", elements="str", default=[]),
            patterns=dict(type="list", elements="str", default=[]),
            request_timeout=dict(type="float", default=15.0),
            security_protocol=dict(type="str", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
                                   fallback=(env_fallback, ["KILDA_KAFKA_SECURITY_PROTOCOL"])),
            sasl_mechanism=dict(type="str", fallback=(env_fallback, ["KILDA_KAFKA_SASL_MECHANISM"])),
            sasl_username=dict(type="str", fallback=(env_fallback, ["KILDA_KAFKA_SASL_USERNAME"])),
            sasl_password=dict(type="str", no_log=True, fallback=(env_fallback, ["KILDA_KAFKA_SASL_PASSWORD"])),
            ssl_ca_location=dict(type="path", fallback=(env_fallback, ["KILDA_KAFKA_SSL_CA_LOCATION"])),
        ),
        supports_check_mode=True,
    )
    if not kafka_groups.HAS_CONFLUENT_KAFKA:
        module.fail_json(msg=missing_required_lib("confluent-kafka"), exception=kafka_groups.CONFLUENT_KAFKA_IMPORT_ERROR)
    run_and_exit(module, lambda: kafka_groups.run(module.params, module.check_mode), [module.params.get("sasl_password")])


if __name__ == "__main__":
    main()
