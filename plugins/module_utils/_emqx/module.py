# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The connection options every EMQX module takes, with the environment variables that AWX
credential types (or a shell) can set instead, and the glue from a module to its runner."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http import HTTPX_IMPORT_ERROR
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.module import run_and_exit

CONNECTION_ARGS = dict(
    api_url=dict(type="str", required=True, fallback=(env_fallback, ["EMQX_API_URL"])),
    api_version=dict(type="str", default="auto", choices=["auto", "v5", "v4"], fallback=(env_fallback, ["EMQX_API_VERSION"])),
    api_key=dict(type="str", no_log=False, fallback=(env_fallback, ["EMQX_API_KEY"])),
    api_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["EMQX_API_SECRET"])),
    username=dict(type="str", fallback=(env_fallback, ["EMQX_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["EMQX_PASSWORD"])),
    app_id=dict(type="str", fallback=(env_fallback, ["EMQX_APP_ID"])),
    app_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["EMQX_APP_SECRET"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["EMQX_VALIDATE_CERTS"])),
    ca_path=dict(type="path", fallback=(env_fallback, ["EMQX_CA_PATH"])),
    client_cert=dict(type="path", fallback=(env_fallback, ["EMQX_CLIENT_CERT"])),
    client_key=dict(type="path", no_log=False, fallback=(env_fallback, ["EMQX_CLIENT_KEY"])),
    request_timeout=dict(type="float", default=30.0, fallback=(env_fallback, ["EMQX_REQUEST_TIMEOUT"])),
)

CONNECTION_KWARGS = dict(
    mutually_exclusive=[("api_key", "username"), ("api_key", "app_id"), ("username", "app_id")],
    required_together=[("api_key", "api_secret"), ("username", "password"), ("app_id", "app_secret"), ("client_cert", "client_key")],
    required_one_of=[("api_key", "username", "app_id")],
)


def run(module, runner_factory):
    """Build the client, run ``runner_factory(client).run()`` and exit the module with its result."""
    from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient

    if HTTPX_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("httpx"), exception=str(HTTPX_IMPORT_ERROR))

    def work():
        with EmqxClient(module.params) as client:
            result = runner_factory(client).run()
            # tokens from /login are secrets the user never typed: mask them like no_log options
            module.no_log_values.update(s for s in client.http.secrets if s)
        return result

    run_and_exit(module, work, [module.params.get(k) for k in ("api_secret", "password", "app_secret")])
