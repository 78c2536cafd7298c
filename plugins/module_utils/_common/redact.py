# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Keep secrets out of results, errors and logs. Ansible masks no_log option values itself;
this covers derived secrets (tokens from a login, Authorization headers, URLs with userinfo)."""

from __future__ import annotations

import re

MASK = "********"
SENSITIVE_KEY = re.compile(r"(pass(word)?|secret|token|authorization|api_?key|credential)", re.IGNORECASE)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact_url(url):
    """Drop user:password@ from a URL."""
    if not url:
        return url
    return _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", str(url))


def redact(value, secrets=()):
    """Return a copy of value (dict/list/str/...) with secret strings and sensitive keys masked."""
    secrets = [s for s in secrets if s]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and SENSITIVE_KEY.search(key) and isinstance(item, (str, bytes)) and item:
                out[key] = MASK
            else:
                out[key] = redact(item, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item, secrets) for item in value)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return redact_url(value) if "://" in value else value
    return value
