"""Bounded waits for the integration tests: poll a condition until it holds or a deadline passes."""
import time


def wait_for(predicate, timeout, what, interval=0.2):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds; otherwise an
    AssertionError naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))
