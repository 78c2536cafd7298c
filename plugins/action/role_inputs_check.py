# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of role_inputs_check (documented with the module of the same name).

Runs on the controller only: the role's files and the play's variables are both there."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.role_inputs import (
    describe,
    known_inputs,
    unknown_inputs,
)

ARGS = dict(
    prefix=dict(type="str", required=True),
    known=dict(type="list", elements="str", default=[]),
    on_unknown=dict(type="str", choices=["fail", "warn"], default="fail"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        checked = ArgumentSpecValidator(ARGS).validate(dict(self._task.args))
        if checked.error_messages:
            return dict(result, failed=True, msg="invalid options: " + "; ".join(checked.error_messages))
        params = checked.validated_parameters
        role = getattr(self._task, "_role", None)
        if role is None:
            return dict(result, failed=True, msg="role_inputs_check runs inside a role: it reads that role's argument specs.")
        known = known_inputs(
            self._load(role, "meta", "argument_specs").get("argument_specs"),
            self._load(role, "defaults", "main"),
            self._load(role, "vars", "main"),
            params["known"],
        )
        found = unknown_inputs((task_vars or {}).keys(), params["prefix"], known)
        result.update(changed=False, unknown=[name for name, _close in found],
                      suggestions=dict((name, close) for name, close in found if close))
        if not found:
            result["msg"] = "every variable with the prefix %s is an input of the role" % params["prefix"]
            return result
        name = role.get_name()
        message = describe(found, name)
        if params["on_unknown"] == "fail":
            return dict(result, failed=True, msg=message)
        result["msg"] = message
        result.setdefault("warnings", []).append(message)
        return result

    def _load(self, role, folder, name):
        for extension in (".yml", ".yaml", ""):
            path = os.path.join(role._role_path, folder, name + extension)  # pylint: disable=protected-access
            if os.path.isfile(path):
                try:
                    return self._loader.load_from_file(path) or {}
                except AnsibleError as exc:
                    raise AnsibleError("cannot read %s: %s" % (path, exc)) from exc
        return {}
