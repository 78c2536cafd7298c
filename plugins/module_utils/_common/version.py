# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Server version strings ("5.8.6", "e5.1.0", "v4.4.24", "5.10.4-build.3") as comparable tuples."""

from __future__ import annotations

import re

_NUMBERS = re.compile(r"(\d+(?:\.\d+)*)")


def parse_version(text):
    """Return a tuple of ints for the first dotted number in text (() when there is none)."""
    if text is None:
        return ()
    match = _NUMBERS.search(str(text))
    if not match:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def at_least(version, minimum):
    """True when version (str or tuple) is known and >= minimum (str or tuple)."""
    have = parse_version(version) if isinstance(version, str) else tuple(version or ())
    want = parse_version(minimum) if isinstance(minimum, str) else tuple(minimum)
    if not have:
        return False
    width = max(len(have), len(want))
    return have + (0,) * (width - len(have)) >= want + (0,) * (width - len(want))
