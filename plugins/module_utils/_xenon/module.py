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
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.redact import redact
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import XenonConnection


def connect(params):
    return XenonConnection(params["url"], username=params.get("username"), password=params.get("password"),
                           validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
                           timeout=params.get("request_timeout") or 30.0)


def run(module, work):
    """work(connection) -> result dict; every failure becomes fail_json naming what went wrong."""
    if HTTPX_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("httpx"), exception=str(HTTPX_IMPORT_ERROR))
    problems = check_wait_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    connection = None
    secrets = [module.params.get("password")]
    try:
        connection = connect(module.params)
        result = work(connection)
        secrets.append(connection.token)
    except ZdtError as exc:
        if connection is not None:
            secrets.append(connection.token)
        module.fail_json(**redact(exc.result(), secrets))
    except ValueError as exc:
        module.fail_json(msg=redact(str(exc), secrets))
    finally:
        if connection is not None:
            connection.close()
    module.exit_json(**redact(result, secrets))
