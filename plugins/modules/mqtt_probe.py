#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mqtt_probe
short_description: Check an MQTT service the way a client sees it
version_added: 0.1.0
description:
  - Connects a subscriber and a publisher (through the load balancer, like real clients), publishes O(count)
    QoS 1 messages to a topic of its own and reports how many came back, duplicates, connect time and latency.
  - Used as the synthetic probe of the blue-green decision gate. Changes nothing on the broker beyond its own
    short-lived clients.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes.info_module
options:
  host:
    description: Host name or address of the MQTT listener (usually the load balancer).
    type: str
    required: true
  port:
    description: TCP port.
    type: int
    default: 1883
  protocol:
    description: MQTT protocol version.
    type: str
    choices: ['5', '3.1.1']
    default: '5'
  count:
    description: Messages to publish.
    type: int
    default: 10
  timeout:
    description: Seconds allowed for the whole exchange.
    type: float
    default: 10.0
  username:
    description: MQTT user name.
    type: str
  password:
    description: MQTT password.
    type: str
  tls:
    description: Use TLS.
    type: bool
    default: false
  ca_path:
    description: CA bundle for TLS.
    type: path
  validate_certs:
    description: Verify the broker's certificate when O(tls=true).
    type: bool
    default: true
  fail_on_error:
    description: Fail the task when the probe is not OK (otherwise report RV(ok=false) and let the caller decide).
    type: bool
    default: false
requirements:
  - paho-mqtt >= 1.6
"""

EXAMPLES = r"""
- name: Probe through the load balancer
  zerodowntime.cluster.mqtt_probe:
    host: mqtt.example.com
    port: 1883
    count: 20
  register: probe

- name: Gate on it
  ansible.builtin.assert:
    that: probe.ok and probe.latency_ms.max < 500
"""

RETURN = r"""
ok:
  description: Every message published was received exactly once, with no error.
  returned: always
  type: bool
sent:
  description: Messages acknowledged by the broker (PUBACK).
  returned: always
  type: int
received:
  description: Distinct messages that reached the subscriber.
  returned: always
  type: int
lost:
  description: Acknowledged messages that never arrived.
  returned: always
  type: int
duplicates:
  description: Extra deliveries of messages already received.
  returned: always
  type: int
connect_ms:
  description: Milliseconds until the subscriber's CONNACK.
  returned: always
  type: float
latency_ms:
  description: Publish-to-delivery latency, C(p50) and C(max), in milliseconds.
  returned: always
  type: dict
errors:
  description: What went wrong (refused CONNACK reason codes, timeouts, socket errors).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common import mqtt_probe
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True), port=dict(type="int", default=1883),
            protocol=dict(type="str", default="5", choices=["5", "3.1.1"]), count=dict(type="int", default=10),
            timeout=dict(type="float", default=10.0), username=dict(type="str"), password=dict(type="str", no_log=True),
            tls=dict(type="bool", default=False), ca_path=dict(type="path"), validate_certs=dict(type="bool", default=True),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if mqtt_probe.PAHO_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("paho-mqtt"), exception=str(mqtt_probe.PAHO_IMPORT_ERROR))
    run_and_exit(module, lambda: mqtt_probe.run(module.params), [module.params["password"]])


if __name__ == "__main__":
    main()
