# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Waiting on one monotonic deadline.

poll calls fetch until done(value) is true, fails at once when failed(value)
returns a reason, swallows the listed transient errors until the deadline, and keeps a
timeline of samples so a module can show progress and report the last observed state.
"""

from __future__ import annotations

import time


class Deadline:
    """A point in monotonic time; timeout=None never expires (used only by callers that
    have their own bound, never as a user-facing 'infinite')."""

    def __init__(self, timeout, clock=time.monotonic):
        self._clock = clock
        self.start = clock()
        self.timeout = timeout
        self.end = None if timeout is None else self.start + float(timeout)

    def elapsed(self):
        return self._clock() - self.start

    def remaining(self):
        if self.end is None:
            return float("inf")
        return max(0.0, self.end - self._clock())

    def expired(self):
        return self.remaining() <= 0.0


class PollResult:
    def __init__(self, value, elapsed, samples):
        self.value = value
        self.elapsed = elapsed
        self.samples = samples


def poll(fetch, done, failed=None, timeout=300, interval=2.0, describe=None, sample=None,
         transient=(), max_samples=500, clock=time.monotonic, sleep=time.sleep):
    """Poll until done.

    :param fetch: callable returning the current observed state.
    :param done: predicate on the state.
    :param failed: callable returning a reason string when the state is terminal, else None.
    :param describe: callable(state) -> short text for timeout messages.
    :param sample: callable(state, elapsed) -> dict appended to the timeline (None to skip).
    :param transient: exception types that are retried until the deadline.
    :raises WaitTimeout: with the last observed state; TerminalFailure on failed.
    """
    from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import (
        TerminalFailure,
        WaitTimeout,
    )

    deadline = Deadline(timeout, clock=clock)
    samples = []
    last = None
    last_error = None
    while True:
        try:
            last = fetch()
            last_error = None
        except transient as exc:  # pylint: disable=catching-non-exception
            last_error = exc
        else:
            elapsed = round(deadline.elapsed(), 3)
            if sample is not None:
                point = sample(last, elapsed)
                if point is not None:
                    samples.append(point)
                    if len(samples) > max_samples:
                        # keep the first sample and thin the rest so long waits stay bounded
                        samples[1:] = samples[1::2]
            if done(last):
                return PollResult(last, elapsed, samples)
            reason = failed(last) if failed else None
            if reason:
                raise TerminalFailure(reason, last=last, elapsed=elapsed, samples=samples)
        if deadline.expired():
            state = describe(last) if (describe and last is not None) else last
            msg = "timed out after %.0fs waiting; last observed: %s" % (deadline.elapsed(), state)
            if last_error is not None:
                msg += "; last error: %s" % last_error
            raise WaitTimeout(msg, last=last, elapsed=round(deadline.elapsed(), 3), samples=samples)
        sleep(min(float(interval), max(deadline.remaining(), 0.0)))


def eta_seconds(samples, key, target=0.0):
    """Estimate seconds until samples[-1][key] reaches target from the recent rate of change.

    Returns None while the rate cannot be estimated (fewer than two samples, no progress)."""
    points = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
    if len(points) < 2:
        return None
    recent = points[-10:]
    (t0, v0), (t1, v1) = recent[0], recent[-1]
    if t1 <= t0:
        return None
    rate = (v0 - v1) / (t1 - t0)
    if rate <= 0:
        return None
    return round(max(0.0, (v1 - target) / rate), 1)


class Countdown:
    """An estimate of seconds left that runs down with the clock while the work it was made from
    stays the same. Systems that refresh their counters in steps (EMQX once a second) or wait in
    whole phases would otherwise show the same ETA for the length of a phase."""

    def __init__(self):
        self._anchor = None

    def __call__(self, work, t, estimate):
        """The ETA at time ``t`` for ``work`` (any comparable snapshot of what is left), whose
        fresh estimate is ``estimate``; None when there is no estimate."""
        if estimate is None:
            self._anchor = None
            return None
        if self._anchor is None or self._anchor[0] != work:
            self._anchor = (work, t, estimate)
        return round(max(0.0, self._anchor[2] - (t - self._anchor[1])), 1)
