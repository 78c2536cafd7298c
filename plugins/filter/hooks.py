# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles: checks of the task files users hand them as hooks."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError


def hook_problems(hooks, search_dirs=(), required=()):
    """One sentence per hook that would fail only when its turn comes: a required hook that is
    not set, or a hook whose file is found neither as given nor under one of ``search_dirs``."""
    if not isinstance(hooks, dict):
        raise AnsibleFilterError("hook_problems expects a dict of variable name -> task file, got %s" % type(hooks).__name__)
    problems = []
    for name in sorted(hooks):
        path = hooks[name] or ""
        if not path:
            if name in (required or ()):
                problems.append("%s is not set: it must name the task file to run" % name)
            continue
        candidates = [path] if os.path.isabs(path) else [path] + [os.path.join(d, path) for d in search_dirs or () if d]
        if not any(os.path.isfile(candidate) for candidate in candidates):
            problems.append("%s names %s, which is not a file%s" % (
                name, path, "" if os.path.isabs(path) else " (looked in %s)" % ", ".join(["."] + [d for d in search_dirs or () if d])))
    return problems


class FilterModule:
    def filters(self):
        return {"hook_problems": hook_problems}
