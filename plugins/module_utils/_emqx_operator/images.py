# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Versions from image references. Kept apart from the discovery code, which needs the
kubernetes client: the role's filters use this, and Ansible imports every filter file of the
collection for each task that uses one of them, so importing the client there costs a third of a
second of CPU per task."""

from __future__ import annotations

import re

_TAG = re.compile(r":v?(\d+\.\d+\.\d+[-.\w]*)$")


def version_of_image(image):
    """'emqx/emqx-operator-controller:2.2.29' -> '2.2.29'; None for digests and non-version tags."""
    match = _TAG.search(image or "")
    return match.group(1) if match else None
