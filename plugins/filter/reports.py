# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles' reports: where one run's report is kept."""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleFilterError

STAMP = re.compile(r"^\d{8}T\d{6}Z$")


def run_report_path(path, stamp):
    """``<dir>/<name>-<stamp><ext>`` beside ``<dir>/<name><ext>``: the file one run's report is kept in,
    while ``path`` itself holds a copy of the latest. An empty ``path`` (no report file asked for) gives an
    empty path."""
    if path == "":
        return ""
    if not isinstance(path, str) or path.endswith("/"):
        raise AnsibleFilterError("expected the path of a report file, got %r" % (path,))
    if not isinstance(stamp, str) or not STAMP.match(stamp):
        raise AnsibleFilterError("expected a UTC time stamp like 20250102T030405Z, got %r" % (stamp,))
    head, tail = os.path.split(path)
    stem, ext = os.path.splitext(tail)
    if not stem:  # a dot file such as ".report": no extension to keep apart
        stem, ext = tail, ""
    return os.path.join(head, "%s-%s%s" % (stem, stamp, ext))


class FilterModule:
    def filters(self):
        return {
            "run_report_path": run_report_path,
        }
