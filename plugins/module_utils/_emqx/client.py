# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Connection to the EMQX management API: version detection (v5 or 4.4's v4), the three
credential kinds, and the v4 envelope (errors may arrive as HTTP 200 with a non-zero code)."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http import HttpClient

try:
    import httpx
except ImportError:
    httpx = None

V5 = "v5"
V4 = "v4"

# Tests swap in an httpx.MockTransport here to run whole modules without a network.
DEFAULT_TRANSPORT = None


def emqx_error_parser(response):
    """EMQX 5 errors are {"code": "UPPER_SNAKE", "message": "..."}; 4.4 uses numeric codes."""
    data = response.data
    if isinstance(data, dict):
        return data.get("code"), data.get("message")
    return None, (response.text or "").strip()[:500] or None


def credentials_kind(params):
    """Which credential the user gave: 'api_key', 'login', 'app' or None."""
    if params.get("api_key"):
        return "api_key"
    if params.get("username"):
        return "login"
    if params.get("app_id"):
        return "app"
    return None


class EmqxClient:
    """Talks to one management listener; version is 'v5' or 'v4' after connect()."""

    def __init__(self, params, transport=None, sleep=None):
        self.params = params
        self.version = None if params.get("api_version", "auto") == "auto" else params["api_version"]
        self.login_info = {}
        self.token = None
        kind = credentials_kind(params)
        if kind is None:
            raise ValidationError(
                "no EMQX credentials: set api_key/api_secret (EMQX_API_KEY/EMQX_API_SECRET), "
                "username/password (dashboard login, v5) or app_id/app_secret (4.4)")
        if kind == "app" and self.version == V5:
            raise ValidationError("app_id/app_secret are 4.4 (api_version v4) credentials; EMQX 5 takes api_key/api_secret or username/password")
        if kind == "login" and self.version == V4:
            raise ValidationError("username/password login is an EMQX 5 feature; for 4.4 use app_id/app_secret")
        self.kind = kind
        if kind == "api_key":
            user, secret = params["api_key"], params.get("api_secret")
        elif kind == "app":
            user, secret = params["app_id"], params.get("app_secret")
        else:
            user, secret = None, None
        secrets = [s for s in (params.get("api_secret"), params.get("password"), params.get("app_secret")) if s]
        kwargs = dict(
            validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
            client_cert=params.get("client_cert"), client_key=params.get("client_key"),
            timeout=params.get("request_timeout") or 30, error_parser=emqx_error_parser, secrets=secrets,
            transport=transport if transport is not None else DEFAULT_TRANSPORT,
        )
        if sleep is not None:
            kwargs["sleep"] = sleep
        auth = httpx.BasicAuth(user, secret or "") if (user and httpx is not None) else None
        self.http = HttpClient(params["api_url"], auth=auth, **kwargs)

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- connection ------------------------------------------------------------------------

    def connect(self):
        """Detect the API version (when auto) and log in (dashboard credentials)."""
        if self.version is None:
            self.version = self._detect()
        if self.kind == "login":
            response = self.http.post("/api/v5/login", json={"username": self.params["username"], "password": self.params["password"]})
            data = response.data or {}
            if not data.get("token"):
                raise ApiError("POST /api/v5/login returned no token", method="POST", url="/api/v5/login", status=response.status)
            self.token = data["token"]
            self.http.set_bearer(self.token)
            self.login_info = {"version": data.get("version"), "role": data.get("role"),
                               "edition": (data.get("license") or {}).get("edition")}
        return self.version

    def _detect(self):
        if self.kind == "app":
            return V4
        if self.kind == "login":
            return V5
        # An API key works on both lines; the path prefix tells which one answers.
        try:
            self.http.get("/api/v5/nodes")
            return V5
        except ApiError as exc:
            if exc.status == 404:
                self.http.get("/api/v4/nodes")
                return V4
            raise

    @property
    def prefix(self):
        return "/api/%s" % self.version

    # ---- requests --------------------------------------------------------------------------

    def call(self, method, path, body=None):
        """Request prefix + path; unwrap the v4 envelope; raise ApiError on any error."""
        response = self.http.request(method, self.prefix + path, json=body)
        data = response.data
        if self.version == V4 and isinstance(data, dict) and isinstance(data.get("code"), int):
            if data["code"] != 0:
                # 4.4 reports errors as HTTP 200 with the error in the body.
                message = data.get("message")
                raise ApiError(
                    "%s %s returned HTTP %s with error code %s: %s" % (method, response.url, response.status, data["code"], message),
                    method=method, url=response.url, status=response.status, code=data["code"], message=message, body=data)
            return data.get("data")
        return data
