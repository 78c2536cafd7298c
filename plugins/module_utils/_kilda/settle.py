# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""When is a component settled? (Kilda reference, sections 3.3 and 4.5)

After START: ``state == expected_state``, or ``state > 0`` where no ``expected_state`` was ever
written. After SHUTDOWN: ``state == 0``; a ``state`` that is missing or empty counts as 0
because no task of that component has ever confirmed anything (a colour that is not deployed
yet, such as green pre-set to SHUTDOWN).

After START, ``state > expected_state`` is an over-count that never settles: Kilda counts
confirmations, and a hub still draining a SHUTDOWN when START reaches it reactivates without
ever confirming that SHUTDOWN (flowhs ``FlowProcessingService.cancelProcessing``, Floodlight's
``kafka/Consumer``), so those hubs stay counted on top of every START confirmation for the life
of the process, and a later SHUTDOWN stops at that excess instead of 0.
"""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout


def check(snapshot, signal):
    """(settled, reason) for a component that was told ``signal``."""
    state_text = snapshot.value(layout.STATE)
    expected_text = snapshot.value(layout.EXPECTED_STATE)
    state = layout.parse_int(state_text)
    expected = layout.parse_int(expected_text)
    if state_text not in (None, "") and state is None:
        return False, "state %r is not a number" % state_text
    if signal == "SHUTDOWN":
        if not state:
            return True, "drained"
        return False, "state=%s, want 0" % state
    if state is None:
        return False, "state not written yet" if snapshot.nodes[layout.STATE].exists else "no state node yet (not deployed?)"
    if expected is not None and expected > 0:
        if state == expected:
            return True, "started"
        if state > expected:
            return False, "state=%s is %d above expected_state=%s (over-count)" % (state, state - expected, expected)
        return False, "state=%s, want expected_state=%s" % (state, expected)
    if state > 0:
        return True, "started (no expected_state, state > 0)"
    return False, "state=0, want > 0 (no expected_state)"


def excess(snapshot, signal):
    """By how much ``state`` is above ``expected_state`` after START (0 when it is not)."""
    if signal != "START":
        return 0
    state = layout.parse_int(snapshot.value(layout.STATE))
    expected = layout.parse_int(snapshot.value(layout.EXPECTED_STATE))
    if state is None or expected is None or expected <= 0:
        return 0
    return max(0, state - expected)


def describe(snapshot):
    d = snapshot.as_dict()
    return "%s/%s (signal=%s state=%s expected_state=%s build-version=%s)" % (
        d["component"], d["env"], _show(d["signal"]), _show(d["state"]), _show(d["expected_state"]), _show(d["build_version"]))


def _show(value):
    if value is None:
        return "<missing>"
    if value == "":
        return "<empty>"
    return value
