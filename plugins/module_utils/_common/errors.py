# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Exceptions that carry what a user needs to act: the server's status, code and message,
or the last state observed before a wait gave up. Modules turn them into fail_json."""

from __future__ import annotations


class ZdtError(Exception):
    """Base error; details is merged into the module's failure result."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def result(self):
        out = dict(self.details)
        out["msg"] = self.msg
        return out


class ApiError(ZdtError):
    """A request failed: transport error (status None) or a non-success answer."""

    def __init__(self, msg, method=None, url=None, status=None, code=None, message=None, body=None):
        super().__init__(msg, method=method, url=url, status=status, code=code, server_message=message, body=body)
        self.method = method
        self.url = url
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class ValidationError(ZdtError):
    """Bad input, found before anything was changed."""


class WaitTimeout(ZdtError):
    """The deadline passed; last is the last observed state."""

    def __init__(self, msg, last=None, elapsed=None, samples=None, **extra):
        super().__init__(msg, last_observed=last, elapsed=elapsed, timeline=samples or [], **extra)
        self.last = last
        self.elapsed = elapsed
        self.samples = samples or []


class TerminalFailure(ZdtError):
    """The system reached a state from which waiting longer cannot succeed."""

    def __init__(self, msg, last=None, elapsed=None, samples=None, **extra):
        super().__init__(msg, last_observed=last, elapsed=elapsed, timeline=samples or [], **extra)
        self.last = last
        self.elapsed = elapsed
        self.samples = samples or []
