# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Xenon HTTP access: one login (/core/authn/basic -> x-xenon-auth-token), then clients for
any node of either group that share the token and the TLS settings."""

from __future__ import annotations

from urllib.parse import urlsplit

try:
    import httpx
except ImportError:  # reported by the module with missing_required_lib
    httpx = None

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http import HttpClient

AUTH_HEADER = "x-xenon-auth-token"
LOGIN_PATH = "/core/authn/basic"


def base_of(uri):
    """scheme://host:port of a node or node-group URI."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc:
        raise ValueError("%r is not an absolute URI (expected e.g. http://node:8000/core/node-groups/default)" % uri)
    return "%s://%s" % (parts.scheme, parts.netloc)


def path_of(uri):
    return urlsplit(uri).path or "/"


class XenonConnection:
    """Creates HttpClients for Xenon nodes; logs in once when credentials are given."""

    def __init__(self, url, username=None, password=None, validate_certs=True, ca_path=None, timeout=30.0,
                 transport=None):
        self.url = base_of(url)
        self.username = username
        self.password = password
        self.options = dict(validate_certs=validate_certs, ca_path=ca_path, timeout=timeout)
        if transport is not None:
            self.options["transport"] = transport
        self.token = None
        self._clients = {}

    def login(self):
        if not self.username or self.token:
            return
        with HttpClient(self.url, auth=(self.username, self.password or ""), secrets=[self.password],
                        **self.options) as client:
            response = client.post(LOGIN_PATH, json={"requestType": "LOGIN"})
        token = {k.lower(): v for k, v in response.headers.items()}.get(AUTH_HEADER)
        if not token:
            raise ValueError("%s%s answered 200 without an %s header" % (self.url, LOGIN_PATH, AUTH_HEADER))
        self.token = token

    def client(self, uri=None):
        """A client for the node at uri (default: the url option)."""
        self.login()
        base = base_of(uri) if uri else self.url
        if base not in self._clients:
            headers = {AUTH_HEADER: self.token} if self.token else {}
            options = dict(self.options)
            if base.startswith("http://") and "transport" not in options and httpx is not None:
                # plain-HTTP nodes need no TLS context; building one per node costs more than the requests
                options["transport"] = httpx.HTTPTransport()
            self._clients[base] = HttpClient(base, headers=headers, secrets=[self.password, self.token], **options)
        return self._clients[base]

    def close(self):
        for client in self._clients.values():
            client.close()
        self._clients = {}
