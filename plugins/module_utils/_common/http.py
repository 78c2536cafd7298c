# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""One HTTP client for every REST-speaking module (EMQX, Xenon), on top of httpx.

It owns TLS (verification on by default, CA bundle, client certificate), timeouts, auth,
retries only where a retry cannot duplicate an effect, and turns every non-success answer
into an ApiError that names the method, the path, the status and what the server said.
"""

from __future__ import annotations

import json as _json
import ssl
import sys
import time

# httpx imports its command line (and with it rich, click and pygments) whenever those are
# installed, as they are next to ansible-lint or Molecule: about 0.3 s of CPU in every module
# run, for code a module never calls. Marking it absent makes httpx keep its stub instead.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)

try:
    import httpx
except ImportError as exc:  # reported by the module with missing_required_lib
    httpx = None
    HTTPX_IMPORT_ERROR = exc
else:
    HTTPX_IMPORT_ERROR = None

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.redact import redact, redact_url

# A retried GET cannot change anything; a POST is retried only when it provably never left.
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
RETRY_STATUSES = frozenset((502, 503, 504))


class Response:
    """What callers need from an answer, decoupled from httpx."""

    def __init__(self, status, text, headers, method, url):
        self.status = status
        self.text = text
        self.headers = headers
        self.method = method
        self.url = url
        try:
            self.data = _json.loads(text) if text else None
        except ValueError:
            self.data = None


def default_error_parser(response):
    """Return (code, message) from a JSON error body, tolerating any shape."""
    data = response.data
    if isinstance(data, dict):
        code = data.get("code", data.get("errorCode", data.get("statusCode")))
        message = data.get("message", data.get("error"))
        return code, message
    return None, (response.text or "").strip()[:500] or None


def tls_context(validate_certs=True, ca_path=None, client_cert=None, client_key=None, base_url="https:"):
    """An SSLContext for httpx: verification on unless explicitly disabled.

    A plain http:// base URL never does TLS (redirects are not followed), so it gets a context
    that trusts no CA at all instead of loading the system's store (a tenth of a module run's
    CPU): it would fail closed, never open, if anything ever used it."""
    if not base_url.lower().startswith("https:"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if validate_certs:
        context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context


# A connection that is not open after this long will not open: a host cut off the network drops
# the handshake without an answer, and the request's whole timeout (often 30 s), retried, would
# keep a run from trying another node for a minute or more. A slow but reachable server has
# accepted by then (the kernel's second SYN retransmission goes out at 3 s).
CONNECT_TIMEOUT = 5.0


def _timeout(seconds):
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


class HttpClient:
    def __init__(self, base_url, auth=None, headers=None, validate_certs=True, ca_path=None,
                 client_cert=None, client_key=None, timeout=10.0, retries=2, retry_backoff=0.5,
                 transport=None, error_parser=default_error_parser, secrets=(), sleep=time.sleep):
        if httpx is None:
            raise ImportError("httpx is required: %s" % HTTPX_IMPORT_ERROR)
        self.base_url = base_url.rstrip("/")
        self.retries = max(0, int(retries))
        self.retry_backoff = retry_backoff
        self.error_parser = error_parser
        self.secrets = [s for s in secrets if s]
        self._sleep = sleep
        self._auth_header = None
        kwargs = dict(base_url=self.base_url, headers=dict(headers or {}), timeout=_timeout(timeout), auth=auth)
        if transport is not None:
            kwargs["transport"] = transport
        else:
            kwargs["verify"] = tls_context(validate_certs, ca_path, client_cert, client_key, base_url=self.base_url)
        self._client = httpx.Client(**kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._client.close()

    def set_bearer(self, token):
        """Switch to Bearer auth (after a login); the token is treated as a secret."""
        self.secrets.append(token)
        self._client.auth = None
        self._client.headers["Authorization"] = "Bearer %s" % token

    def _url(self, path):
        return redact_url(self.base_url + path)

    def request(self, method, path, json=None, params=None, ok=(200,), timeout=None, retries=None):
        """Send one request; return a Response whose status is in ok or raise ApiError.

        ``timeout`` (seconds) and ``retries`` replace the client's own for this request only: a
        read that a polling loop repeats anyway wants neither a long wait nor retries of its own."""
        method = method.upper()
        attempt = 0
        retries = self.retries if retries is None else max(0, int(retries))
        extra = {} if timeout is None else {"timeout": _timeout(timeout)}
        while True:
            try:
                raw = self._client.request(method, path, json=json, params=params, **extra)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt < retries and (method in SAFE_METHODS or never_sent):
                    attempt += 1
                    self._sleep(self.retry_backoff * (2 ** (attempt - 1)))
                    continue
                raise ApiError(
                    "%s %s failed: %s" % (method, self._url(path), redact(str(exc) or type(exc).__name__, self.secrets)),
                    method=method, url=self._url(path),
                )
            response = Response(raw.status_code, raw.text, dict(raw.headers), method, self._url(path))
            if response.status in ok:
                return response
            if response.status in RETRY_STATUSES and method in SAFE_METHODS and attempt < retries:
                attempt += 1
                self._sleep(self.retry_backoff * (2 ** (attempt - 1)))
                continue
            raise self.error(response, path)

    def error(self, response, path):
        code, message = self.error_parser(response)
        body = redact(response.data if response.data is not None else response.text, self.secrets)
        message = redact(message, self.secrets)
        text = "%s %s returned HTTP %s" % (response.method, self._url(path), response.status)
        if code is not None:
            text += " %s" % code
        if message:
            text += ": %s" % message
        return ApiError(text, method=response.method, url=self._url(path), status=response.status,
                        code=code, message=message, body=body)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)
