"""Dashboard/API authentication of the lab (reference §1.1): Basic API keys, Bearer tokens
from /login, and AppID/AppSecret for the 4.4 API. Tokens are signed, so any node accepts them."""
import base64
import binascii
import hashlib
import hmac
import json
import time

TOKEN_TTL = 3600


class Denied(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _basic(header):
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, _sep, secret = decoded.partition(":")
    return user, secret


def issue_token(creds, username, ttl=TOKEN_TTL):
    payload = base64.urlsafe_b64encode(json.dumps({"u": username, "exp": time.time() + ttl}).encode()).decode()
    sig = hmac.new(creds["token_secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()
    return "%s.%s" % (payload, sig)


def _check_token(creds, token):
    payload, _sep, sig = token.partition(".")
    good = hmac.new(creds["token_secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not sig or not hmac.compare_digest(sig, good):
        raise Denied(401, "BAD_TOKEN", "Get a token by POST /login")
    data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    if data["exp"] < time.time():
        raise Denied(401, "TOKEN_TIME_OUT", "Token expired, get a new token by POST /login")
    return "administrator"


def role_v5(creds, header):
    """The caller's role, or Denied with EMQX's 401 codes."""
    if header and header.startswith("Basic "):
        key, secret = _basic(header)
        roles = (("administrator", "api_key", "api_secret"), ("viewer", "viewer_api_key", "viewer_api_secret"))
        for role, key_field, secret_field in roles:
            if key == creds.get(key_field) and secret is not None and hmac.compare_digest(secret, creds[secret_field]):
                return role
        raise Denied(401, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
    if header and header.startswith("Bearer "):
        return _check_token(creds, header[7:].strip())
    raise Denied(401, "AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer")


def check_v4(creds, header):
    if header and header.startswith("Basic "):
        app_id, secret = _basic(header)
        if app_id == creds["app_id"] and secret is not None and hmac.compare_digest(secret, creds["app_secret"]):
            return True
    return False
