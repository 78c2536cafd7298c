# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Optional EMQX API access for the operator modules, to check what the operator reports."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback

# The same environment variables as the EMQX modules, so one AWX credential serves both.
EMQX_API_ARGS = dict(
    emqx_api_url=dict(type="str", fallback=(env_fallback, ["EMQX_API_URL"])),
    emqx_api_key=dict(type="str", no_log=False, fallback=(env_fallback, ["EMQX_API_KEY"])),
    emqx_api_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["EMQX_API_SECRET"])),
    emqx_validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["EMQX_VALIDATE_CERTS"])),
    emqx_ca_path=dict(type="path", fallback=(env_fallback, ["EMQX_CA_PATH"])),
)
EMQX_API_TOGETHER = [("emqx_api_key", "emqx_api_secret")]


def emqx_params(params):
    """The emqx_* options of an operator module as the EMQX modules' connection parameters."""
    return {"api_url": params["emqx_api_url"], "api_version": "auto", "api_key": params.get("emqx_api_key"),
            "api_secret": params.get("emqx_api_secret"), "validate_certs": params.get("emqx_validate_certs", True),
            "ca_path": params.get("emqx_ca_path"), "request_timeout": 30.0}


def emqx_api_factory(params):
    """A callable returning a connected EmqxApi, or None when no EMQX API was given."""
    if not params.get("emqx_api_url"):
        return None

    def factory():
        from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.api import EmqxApi
        from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.client import EmqxClient

        client = EmqxClient(emqx_params(params))
        client.connect()
        return EmqxApi(client)

    return factory
