# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of role_inputs_check (documented with the module of the same name).

Runs on the controller only: the role's files and the play's variables are both there."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.role_inputs import (
    describe,
    describe_missing,
    known_inputs,
    missing_required,
    unknown_inputs,
)

ARGS = dict(
    prefix=dict(type="str"),
    known=dict(type="list", elements="str", default=[]),
    on_unknown=dict(type="str", choices=["fail", "warn"], default="fail"),
    role=dict(type="str"),
    entry_point=dict(type="str", default="main"),
)
COLLECTION = "zerodowntime.cluster"
# this file is <collection>/plugins/action/role_inputs_check.py
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGS)  # fails the task on bad options
        task_vars = task_vars or {}
        if params["role"]:
            # before the role: what its implicit argument validation would refuse, in one line
            short = params["role"][len(COLLECTION) + 1:] if params["role"].startswith(COLLECTION + ".") else params["role"]
            name, path = "%s.%s" % (COLLECTION, short), os.path.join(COLLECTION_ROOT, "roles", short)
            if not os.path.isdir(path):
                return dict(result, failed=True, msg="role %s is not a role of %s" % (params["role"], COLLECTION))
            specs = self._load(path, "meta", "argument_specs").get("argument_specs") or {}
            if params["entry_point"] not in specs:
                return dict(result, failed=True, msg="%s has no entry point %s (it has %s)" % (name, params["entry_point"], ", ".join(sorted(specs))))
            result["missing"] = missing_required(specs[params["entry_point"]].get("options"), task_vars)
            prefix = params["prefix"] or short + "_"
        else:
            role = getattr(self._task, "_role", None)
            if role is None:
                return dict(result, failed=True, msg="role_inputs_check runs inside a role, or names one with role: it reads the role's argument specs.")
            if not params["prefix"]:
                return dict(result, failed=True, msg="invalid options: prefix is required inside a role")
            name, path, specs = role.get_name(), role._role_path, None  # pylint: disable=protected-access
            prefix = params["prefix"]
        known = known_inputs(
            specs if specs is not None else self._load(path, "meta", "argument_specs").get("argument_specs"),
            self._load(path, "defaults", "main"),
            self._load(path, "vars", "main"),
            params["known"],
        )
        found = unknown_inputs(task_vars.keys(), prefix, known)
        result.update(changed=False, unknown=[unknown for unknown, _close in found],
                      suggestions=dict((unknown, close) for unknown, close in found if close))
        missing = result.get("missing")
        if missing:
            return dict(result, failed=True, msg=describe_missing(missing, name, params["entry_point"], found))
        if not found:
            result["msg"] = "every variable with the prefix %s is an input of the role" % prefix
            return result
        message = describe(found, name)
        if params["on_unknown"] == "fail":
            return dict(result, failed=True, msg=message)
        result["msg"] = message
        result.setdefault("warnings", []).append(message)
        return result

    def _load(self, role_path, folder, name):
        for extension in (".yml", ".yaml", ""):
            path = os.path.join(role_path, folder, name + extension)
            if os.path.isfile(path):
                try:
                    return self._loader.load_from_file(path) or {}
                except AnsibleError as exc:
                    raise AnsibleError("cannot read %s: %s" % (path, exc)) from exc
        return {}
