import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout, settle
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda.snapshot import Node, Snapshot


def snap(state=None, expected=None):
    target = layout.Target("/kilda", "flowhs", "blue")
    nodes = {c: Node() for c in layout.CHILDREN}
    if state is not None:
        nodes["state"] = Node(state, 1)
    if expected is not None:
        nodes["expected_state"] = Node(expected, 1)
    return Snapshot(target, nodes, {target.path: True})


@pytest.mark.parametrize("state,expected,ok", [
    ("12", "12", True), ("11", "12", False), ("1", "", True), ("1", None, True),
    ("0", None, False), ("", "12", False), (None, "12", False), ("x", "12", False),
])
def test_start_settles_on_expected_state_or_positive(state, expected, ok):
    assert settle.check(snap(state, expected), "START")[0] is ok


@pytest.mark.parametrize("state,ok", [("0", True), ("", True), (None, True), ("3", False), ("-", False)])
def test_shutdown_settles_on_zero_and_never_written(state, ok):
    assert settle.check(snap(state, "12"), "SHUTDOWN")[0] is ok


def test_reason_and_description_show_the_values():
    ok, why = settle.check(snap("3", "12"), "START")
    assert not ok and "state=3" in why and "12" in why
    assert "state=3" in settle.describe(snap("3", "12")) and "build-version=<missing>" in settle.describe(snap("3", "12"))
