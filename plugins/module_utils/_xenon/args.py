# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Argument-spec pieces of the Xenon modules (connection options with env var fallbacks)."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback

CONNECTION_ARGS = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["XENON_URL"])),
    username=dict(type="str", fallback=(env_fallback, ["XENON_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["XENON_PASSWORD"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["XENON_VALIDATE_CERTS"])),
    ca_path=dict(type="path", fallback=(env_fallback, ["XENON_CA_PATH"])),
    request_timeout=dict(type="float", default=30.0),
)

FACTORY_ARGS = dict(
    source_node_group=dict(type="str"),
    destination_node_group=dict(type="str"),
    factories=dict(type="list", elements="raw"),
    transformation_service_link=dict(type="str"),
    query_spec=dict(type="dict"),
    migration_options=dict(type="list", elements="str"),
)
