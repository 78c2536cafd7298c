"""Xenon basic authentication as the reference describes it: POST /core/authn/basic with a Basic
header returns x-xenon-auth-token (also set as the xenon-auth-cookie); later requests carry it.
Every node of both groups signs with the same secret, so one token works on blue and green."""
import base64
import hashlib
import hmac
import json
import time

HEADER = "x-xenon-auth-token"
COOKIE = "xenon-auth-cookie"
SYSTEM = "system@lab"


class Auth:
    def __init__(self, user, password, secret):
        self.user = user
        self.password = password
        self.secret = secret.encode()
        self._system = None

    def check_password(self, user, password):
        return hmac.compare_digest(user, self.user) and hmac.compare_digest(password, self.password or "")

    def issue(self, subject, lifetime):
        claims = base64.urlsafe_b64encode(json.dumps({"sub": subject, "exp": int(time.time()) + lifetime}).encode()).decode()
        return "%s.%s" % (claims, hmac.new(self.secret, claims.encode(), hashlib.sha256).hexdigest())

    def system_token(self):
        if self._system is None:
            self._system = self.issue(SYSTEM, 10 * 365 * 86400)
        return self._system

    def valid(self, token):
        claims, unused, signature = (token or "").partition(".")
        expected = hmac.new(self.secret, claims.encode(), hashlib.sha256).hexdigest()
        if not claims or not hmac.compare_digest(signature, expected):
            return False
        try:
            return json.loads(base64.urlsafe_b64decode(claims.encode()))["exp"] > time.time()
        except (ValueError, KeyError):
            return False

    def verify(self, request):
        return self.valid(request.headers.get(HEADER) or request.cookies.get(COOKIE))
