#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kilda_zk_signal
short_description: Set Open Kilda blue/green signals and build-versions in ZooKeeper, atomically
description:
  - Brings the C(signal) and/or C(build-version) znodes of one or many Open Kilda components to the desired
    values, written exactly as Kilda parses them (C(START) or C(SHUTDOWN), no newline).
  - All targets change in one ZooKeeper transaction (C(multi)); every write carries the version that was read,
    so either every node changes or none does, and a concurrent change is never overwritten.
  - If the connection drops during the commit (for example the leader dies), the nodes are read again and the
    transaction is recomputed from the desired values, so a re-run or a retry can never half-apply a flip.
  - With O(wait=true), after C(START) waits until C(state == expected_state) for every component that reacts to
    signals (or C(state > 0) where no C(expected_state) was ever written); after C(SHUTDOWN) until C(state == 0).
    A missing or empty C(state) counts as 0. Components that only use ZooKeeper for their build-version
    (C(northbound), C(grpc), the server42 apps, C(func_test)) are never waited for.
  - Missing nodes are never created implicitly. O(create_missing=true) creates them (and their parents) in the
    same transaction, which is how a colour that is not deployed yet is pre-set to C(SHUTDOWN) with its new
    build-version. An empty build-version is always refused.
version_added: 0.1.0
author:
  - zerodowntime.cluster contributors (@zerodowntime)
requirements:
  - kazoo >= 2.9
extends_documentation_fragment:
  - zerodowntime.cluster.kilda_connection
  - zerodowntime.cluster.kilda_connection.actiongroup_kilda
  - zerodowntime.cluster.wait
  - zerodowntime.cluster.attributes
attributes:
  check_mode:
    support: full
    details: The same transaction is planned from the same reads; nothing is written and nothing is waited for.
  diff_mode:
    support: full
    details: The targets' C(signal) and C(build-version) values before and after (predicted in check mode), one C(path = value) per line.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  targets:
    description:
      - The component instances to change, each C(component) plus its C(env) id.
      - C(env) is the colour (C(blue), C(green)) for topologies, northbound and grpc, the region (C(1), C(2),
        C(1.stats)) for C(floodlight), and the fixed run id for the server42 apps and C(func_test).
    type: list
    elements: dict
    required: true
    suboptions:
      component:
        description: Component name as Kilda spells it in ZooKeeper, for example C(network), C(flowhs), C(floodlight).
        type: str
        required: true
      env:
        description: The instance id under the component (colour, region or run id).
        type: str
        required: true
  signal:
    description:
      - Desired content of every target's C(signal) node. Case-sensitive.
    type: str
    choices: [START, SHUTDOWN]
  build_version:
    description:
      - Desired content of every target's C(build-version) node, copied byte for byte into Kafka headers.
      - Must not be empty and must not start or end with whitespace or contain control characters.
    type: str
  create_missing:
    description:
      - Create missing nodes (and missing parents, including the chroot) with the desired value instead of failing.
      - Only the nodes for O(signal) and O(build_version) are created; C(build-version) is never created empty.
      - Created nodes get the ACL of their closest existing parent (world-open under a stock Kilda chroot; the same
        digest ACL as the chroot when it is protected), which needs the READ permission on that parent, and ADMIN
        when its ACL holds digest ids.
    type: bool
    default: false
  refresh_stale_state:
    description:
      - What to do when a C(state) is found stale while waiting (see the notes). V(false) fails the task at once, naming
        the components; V(true) sends them the opposite signal and then O(signal) again, waiting for each, so that every
        task confirms anew and C(state) is written again, then waits for all targets as before.
      - The refresh briefly reverses the components' state (a C(START)ed one stops for the time of a drain). For a
        C(SHUTDOWN), its C(START) over a hub that is in fact still draining over-counts, which then fails the task with
        that cause (see the notes).
    type: bool
    default: false
  component_session_timeout:
    description:
      - The ZooKeeper session timeout of the Kilda components, in seconds (C(zookeeper.session.timeout) in Kilda's
        configuration). A component whose ZooKeeper server was cut off by a network partition, rather than stopped,
        gets no reset and notices the loss only when two thirds of this time pass without an answer; a C(state) is
        therefore treated as stale only after it has not changed for that long (and at least 5 seconds) after a
        connection loss.
    type: float
    default: 30
notes:
  - Changing the signal again before the previous change has settled can leave Kilda's counters inconsistent;
    keep O(wait=true) between flips.
  - C(START) while hubs are still draining a C(SHUTDOWN) over-counts for good. Kilda counts confirmations, and a hub
    reactivated while draining never confirms that C(SHUTDOWN), so C(state) ends above C(expected_state) by the number
    of such hubs for as long as the component's process runs. A C(state) above C(expected_state) that lasts 3 seconds
    after C(START) fails the task at once (not at O(wait_timeout)), naming the components; the way out is to restart
    their processes (redeploy the Storm topology, restart the Floodlight). When the C(START) is written over an
    unfinished drain, C(state == expected_state) only counts as settled once it has lasted 3 seconds, because the
    counter passes that value on its way up.
  - Kilda writes C(state) once per confirmation and drops a write that fails on a ZooKeeper connection or session loss;
    re-sending the same signal makes no task confirm again, so such a C(state) stays stale. While it waits, the module
    looks for evidence that components lost their connections - ZooKeeper drops this module's own connection (every
    client's connection drops in a leader election), a new leader epoch shows, or a server of O(hosts) goes away. The
    module asks every server with the C(srvr) four-letter word once a second, so it also sees a server that only the
    components used go away - one that refuses connections or says it is not serving, one that stays silent for
    two thirds of O(component_session_timeout) (when its clients notice), or one that answers as freshly restarted.
    After such evidence, a pending C(state) that has not changed for two thirds of O(component_session_timeout) plus a
    second (21 seconds by default, at least 5) is treated as stale instead of slow, and the task fails at once or,
    with O(refresh_stale_state=true), refreshes it and waits on (a component found stale later is refreshed too); a
    refresh that finds them stale again fails, saying those components have not come back to ZooKeeper. A server
    that does not answer C(srvr) to the controller (a 3.5+ whitelist without it, a firewall) gives no evidence either
    way.
  - A component whose own network path to its server breaks, while every server keeps serving, leaves one trace only -
    every Kilda component's watcher keeps a watch on its C(signal) node, and once it has reconnected that watch is held
    by a new session or on another server. Before it writes the signal and every 2 seconds while it waits, the module
    lists the servers' watches with the C(wchp) four-letter word and counts such a move as evidence for that component
    alone. ZooKeeper 3.5 and later answer C(wchp) only when C(4lw.commands.whitelist) in zoo.cfg has it (3.4 answers
    every four-letter word). Kilda writes C(state) through a second session that holds no watch; a break that drops
    only that one, or any such break without C(wchp), stays invisible and the task times out after O(wait_timeout),
    naming the component as for a hung one and giving the way out for a lost write. C(wchp) lists every watch a server holds, so it costs more than C(srvr)
    on an ensemble with very many watches. Another client that starts watching a component's C(signal) node during
    the wait (a C(zkCli.sh get -w)) counts as a move too.
  - ZooKeeper logs every four-letter word it is asked at INFO level, so while a wait runs each server's log gets a
    C(srvr) line a second and a C(wchp) line every 2 seconds from the controller.
  - The Kilda modules work with ZooKeeper 3.4 (Open Kilda's own image ships 3.4.9) and later, since they read nodes, their
    ACLs and children and write with C(multi) transactions, all of which 3.4 has, as it has digest ACLs and read-only mode.
    TLS (O(use_tls)) needs ZooKeeper 3.5.5 or later; against an older server the task fails at once naming the server
    and its version (from the C(srvr) four-letter word) instead of timing out.
seealso:
  - module: zerodowntime.cluster.kilda_zk_info
"""

EXAMPLES = r"""
- name: Pre-set green to SHUTDOWN with its new build-version before green is deployed
  zerodowntime.cluster.kilda_zk_signal:
    hosts: zk1:2181,zk2:2181,zk3:2181
    targets:
      - {component: network, env: green}
      - {component: flowhs, env: green}
      - {component: northbound, env: green}
    signal: SHUTDOWN
    build_version: "{{ release_id }}"
    create_missing: true
    wait: false

- name: Switch network from blue to green (two flips, each confirmed)
  zerodowntime.cluster.kilda_zk_signal:
    hosts: zk1:2181,zk2:2181,zk3:2181
    targets: [{component: network, env: blue}]
    signal: SHUTDOWN
    wait_timeout: 300

- name: Start green network and wait until state == expected_state
  zerodowntime.cluster.kilda_zk_signal:
    hosts: zk1:2181,zk2:2181,zk3:2181
    targets: [{component: network, env: green}]
    signal: START
    poll_interval: 0.5
"""

RETURN = r"""
changed:
  description: Whether any node was (or in check mode would be) written.
  returned: always
  type: bool
targets:
  description: One entry per target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    component:
      description: 'Component name.'
      type: str
      returned: always
    env:
      description: 'Instance id.'
      type: str
      returned: always
    path:
      description: 'Absolute path of the instance node.'
      type: str
      returned: always
      sample: /kilda/network/green
    changed:
      description: 'Whether a node of this target was written.'
      type: bool
      returned: always
    created:
      description: 'Nodes created for this target (with O(create_missing=true)).'
      type: list
      elements: str
      returned: always
    before:
      description: 'C(signal) and C(build_version) before the task (null when missing).'
      type: dict
      returned: always
    after:
      description: 'C(signal) and C(build_version) after the task (predicted in check mode).'
      type: dict
      returned: always
    state:
      description: 'C(state) read after the commit, before waiting.'
      type: str
      returned: always
    expected_state:
      description: 'C(expected_state) read after the commit.'
      type: str
      returned: always
operations:
  description: The writes of the transaction, in commit order.
  returned: always
  type: list
  elements: dict
  sample: [{op: set, path: /kilda/network/blue/signal, value: SHUTDOWN}]
commit_attempts:
  description: How many times the transaction was committed (more than 1 after a concurrent change or a lost connection).
  returned: always
  type: int
waited_for:
  description: Targets whose C(state) was waited for.
  returned: always
  type: list
  elements: str
settled:
  description:
    - Every waited-for component, with C(state) and C(expected_state) as read when it was first seen settled (a settled
      component is not read again), C(signal) and C(build_version) as read right after the commit.
  returned: when waited
  type: list
  elements: dict
timeline:
  description: Observations while waiting, C(t) in seconds since the wait began, C(pending) component ids.
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds the task took, commit and wait included.
  returned: always
  type: float
diff:
  description: Node values before and after, one C(path = value) per line.
  returned: always
  type: dict
last_observed:
  description: On a wait timeout or a failure waiting cannot mend, every component still pending with its values and the reason.
  returned: failure
  type: list
  elements: dict
refreshed:
  description: The refreshes of stale states (O(refresh_stale_state=true)), one entry per signal sent, in order.
  returned: always
  type: list
  elements: dict
  sample: [{signal: START, targets: [network/blue], operations: []}, {signal: SHUTDOWN, targets: [network/blue], operations: []}]
stale:
  description: Components whose C(state) was found stale after a ZooKeeper connection loss (see the notes).
  returned: failure, when a stale state ended the wait and O(refresh_stale_state=false)
  type: list
  elements: str
  sample: [network/blue]
causes:
  description: The evidence of lost connections that made the pending states count as stale (see the notes).
  returned: always (empty when no stale state was found)
  type: list
  elements: str
  sample:
    - "server 10.0.0.12:2181 stopped serving"
    - "network/blue reconnected: its watch on signal moved from session 0x100000a2b3c0004 on 10.0.0.12:2181 to session
      0x100000a2b3c0004 on 10.0.0.13:2181"
overcounted:
  description: Components whose C(state) stayed above C(expected_state) after C(START) (see the notes).
  returned: failure, when an over-count ended the wait
  type: list
  elements: str
  sample: [flowhs/blue]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import (
    WAIT_ARGS,
    check_wait_params,
    merge_specs,
)
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, signal


def main():
    argument_spec = merge_specs(
        connection.CONNECTION_ARGS,
        WAIT_ARGS,
        dict(
            targets=dict(type="list", elements="dict", required=True, options=dict(
                component=dict(type="str", required=True),
                env=dict(type="str", required=True),
            )),
            signal=dict(type="str", choices=["START", "SHUTDOWN"]),
            build_version=dict(type="str"),
            create_missing=dict(type="bool", default=False),
            refresh_stale_state=dict(type="bool", default=False),
            component_session_timeout=dict(type="float", default=30.0),
        ),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[("signal", "build_version")],
        required_together=connection.CONNECTION_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    if not connection.HAS_KAZOO:
        module.fail_json(msg=missing_required_lib("kazoo"), exception=connection.KAZOO_IMPORT_ERROR)
    problems = check_wait_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    run_and_exit(module, lambda: connection.with_client(
        module.params, lambda client: signal.run(client, module.params, module.check_mode)), [module.params.get("password")])


if __name__ == "__main__":
    main()
