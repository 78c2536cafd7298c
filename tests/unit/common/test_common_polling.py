"""One monotonic deadline; terminal failures fail at once; timeouts carry the last state."""
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import TerminalFailure, WaitTimeout
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.polling import eta_seconds, poll
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.redact import redact
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.version import at_least, parse_version


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def counter(values):
    values = list(values)
    return lambda: values.pop(0) if len(values) > 1 else values[0]


def test_returns_when_done_with_samples():
    clock = Clock()
    result = poll(counter([3, 2, 1, 0]), lambda v: v == 0, interval=1, timeout=60, clock=clock, sleep=clock.sleep,
                  sample=lambda v, t: {"t": t, "left": v})
    assert result.value == 0 and [s["left"] for s in result.samples] == [3, 2, 1, 0]
    assert result.elapsed == 3.0


def test_timeout_reports_last_observed_state():
    clock = Clock()
    with pytest.raises(WaitTimeout) as err:
        poll(counter([5, 4]), lambda v: v == 0, interval=2, timeout=7, clock=clock, sleep=clock.sleep,
             describe=lambda v: "%s left" % v)
    assert err.value.last == 4 and "last observed: 4 left" in err.value.msg
    assert clock.now == 7.0, "the last sleep is cut to the deadline, never past it"


def test_terminal_failure_does_not_wait_for_the_deadline():
    clock = Clock()
    with pytest.raises(TerminalFailure) as err:
        poll(counter(["running", "broken"]), lambda v: v == "done", failed=lambda v: "it broke" if v == "broken" else None,
             interval=1, timeout=600, clock=clock, sleep=clock.sleep)
    assert err.value.msg == "it broke" and clock.now == 1.0


def test_transient_errors_are_retried_until_the_deadline():
    clock = Clock()
    calls = []

    def fetch():
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(WaitTimeout) as err:
        poll(fetch, lambda v: True, interval=1, timeout=5, transient=(ConnectionError,), clock=clock, sleep=clock.sleep)
    assert "last error: down" in err.value.msg and len(calls) == 6


def test_timeline_is_bounded():
    clock = Clock()
    result = poll(counter(list(range(2000, -1, -1))), lambda v: v == 0, interval=1, timeout=10000, clock=clock,
                  sleep=clock.sleep, sample=lambda v, t: {"t": t}, max_samples=100)
    assert len(result.samples) <= 101 and result.samples[0]["t"] == 0


def test_eta_from_observed_rate():
    samples = [{"t": 0, "c": 100}, {"t": 10, "c": 50}]
    assert eta_seconds(samples, "c") == 10.0
    assert eta_seconds(samples[:1], "c") is None
    assert eta_seconds([{"t": 0, "c": 5}, {"t": 1, "c": 5}], "c") is None


def test_redact_masks_keys_and_values():
    data = {"password": "p", "nested": [{"Authorization": "Basic abc"}], "msg": "uses s3cret", "url": "http://u:p@h/x"}
    out = redact(data, ["s3cret"])
    assert out == {"password": "********", "nested": [{"Authorization": "********"}], "msg": "uses ********",
                   "url": "http://********@h/x"}


@pytest.mark.parametrize("text,expected", [("5.8.6", (5, 8, 6)), ("e5.1.0", (5, 1, 0)), ("v4.4.24", (4, 4, 24)),
                                           ("5.10.4-build.3", (5, 10, 4)), (None, ()), ("unknown", ())])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_at_least():
    assert at_least("5.10.0", "5.9.0") and at_least("5.9", "5.9.0") and not at_least("5.8.11", "5.9.0")
    assert not at_least(None, "1.0")
