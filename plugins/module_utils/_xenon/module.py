# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The glue every Xenon module shares: dependency check, connection, error -> fail_json."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import check_wait_params
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http import HTTPX_IMPORT_ERROR
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.redact import redact
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import XenonConnection


def connect(params):
    return XenonConnection(params["url"], username=params.get("username"), password=params.get("password"),
                           validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
                           timeout=params.get("request_timeout") or 30.0)


def run(module, work):
    """work(connection) -> result dict; every failure becomes fail_json naming what went wrong,
    with the password and the session token masked."""
    if HTTPX_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("httpx"), exception=str(HTTPX_IMPORT_ERROR))
    problems = check_wait_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    secrets = [module.params.get("password")]

    def work_on_a_connection():
        try:
            connection = connect(module.params)
        except ValueError as exc:  # a malformed URL, said as the URL parser says it
            raise ZdtError(str(exc)) from exc
        try:
            result = work(connection)
        except ValueError as exc:
            raise ZdtError(str(exc)) from exc
        finally:
            secrets.append(connection.token)
            connection.close()
        return redact(result, [s for s in secrets if s])

    run_and_exit(module, work_on_a_connection, secrets)
