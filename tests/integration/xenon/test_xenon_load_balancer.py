"""HAProxy 2.6 in front of the groups: closing the maintenance window holds requests inside
HAProxy (none fails), the switch to green goes through the runtime API socket, and the held
requests are then served by green."""
import os
import time

import pytest

from xenon_lab import haproxy
from xenon_lab.writer import Writer, read_log

pytestmark = pytest.mark.timeout(60)
WINDOW = 1.5


@pytest.mark.slow
def test_window_queues_requests_and_switch_sends_them_to_green(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1)
    sock = lab.description["load_balancer"]["socket"]
    log = os.path.join(str(tmp_path), "writer.jsonl")
    writer = Writer(lab.description["load_balancer"]["url"], log, rate=40, workers=3, update_ratio=0.0).start()
    # Blue serves a few writes before the window closes (a fixed 0.7 s was once too short on a loaded machine).
    deadline = time.monotonic() + 20
    while writer.counts["acked"] < 5:
        assert time.monotonic() < deadline, writer.counts
        time.sleep(0.05)
    assert haproxy.close_window(sock)["in_flight"] == 0
    # taken once HAProxy answered: a request sent while the close command was on its way was not yet
    # held, and may end during the window
    closed_at = time.time()
    time.sleep(WINDOW)
    switched = haproxy.switch(sock, "green")
    assert switched["servers"]["blue-1"] == "MAINT" and switched["window"] == "closed"
    opened_at = time.time()
    haproxy.open_window(sock)
    time.sleep(0.7)
    writer.stop()

    last, failed, records = read_log(log)
    assert failed == [], failed[:3]
    # Each of the 3 workers blocks on one held request; one may have been sent a moment before
    # closed_at and still have been caught by the window, so count the requests that were held.
    held = [r for r in records if r["start"] < opened_at - 0.2 and r["end"] >= opened_at]
    assert len(held) >= 3, "the writer should have tried to write during the window"
    assert {r["group"] for r in held} == {"green"}
    for record in (r for r in records if closed_at < r["start"] < opened_at - 0.2):
        assert record["end"] >= opened_at, "a request finished while the window was closed"
        assert record["group"] == "green"
    assert {r["group"] for r in records if r["end"] < closed_at} == {"blue"}
    assert haproxy.show(sock)["window"] == "open"
