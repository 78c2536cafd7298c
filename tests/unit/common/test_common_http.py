"""The shared HTTP client: retries only where they cannot duplicate an effect, errors that
carry the server's answer, no secret in any message."""
import httpx
import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http import HttpClient, tls_context


def client_for(handler, **kwargs):
    return HttpClient("https://api.test", transport=httpx.MockTransport(handler), sleep=lambda s: None, **kwargs)


def flaky(statuses):
    calls = []

    def handler(request):
        calls.append(request.method)
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if status == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if status == "read":
            raise httpx.ReadTimeout("read timed out", request=request)
        return httpx.Response(status, json={"code": "X", "message": "status %s" % status})

    return handler, calls


def test_get_is_retried_on_503_then_succeeds():
    handler, calls = flaky([503, 503, 200])
    assert client_for(handler).get("/x").status == 200
    assert calls == ["GET", "GET", "GET"]


def test_post_is_never_retried_after_the_server_answered():
    handler, calls = flaky([503, 200])
    with pytest.raises(ApiError) as err:
        client_for(handler).post("/start", json={})
    assert calls == ["POST"] and err.value.status == 503


def test_post_is_not_retried_after_a_read_timeout():
    handler, calls = flaky(["read", 200])
    with pytest.raises(ApiError):
        client_for(handler).post("/start", json={})
    assert calls == ["POST"]


def test_post_is_retried_when_the_connection_never_opened():
    handler, calls = flaky(["connect", 200])
    assert client_for(handler).post("/start", json={}).status == 200
    assert calls == ["POST", "POST"]


def test_retries_are_bounded():
    handler, calls = flaky([502])
    with pytest.raises(ApiError):
        client_for(handler, retries=2).get("/x")
    assert len(calls) == 3


def test_a_polling_read_can_ask_for_a_shorter_timeout_and_no_retries_of_its_own():
    """A loop that reads again at its next poll must not sit through three long timeouts first."""
    seen = []

    def handler(request):
        seen.append(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("read timed out", request=request)

    client = client_for(handler, timeout=30.0, retries=2)
    with pytest.raises(ApiError):
        client.get("/task", timeout=4.0, retries=0)
    assert seen == [4.0]
    with pytest.raises(ApiError):
        client.get("/task")
    assert seen == [4.0, 30.0, 30.0, 30.0], "the client's own timeout and retries are unchanged"


def test_a_connection_that_does_not_open_is_given_up_sooner_than_a_slow_answer():
    """A host cut off the network never answers the handshake: the next node is tried within seconds."""
    seen = []

    def handler(request):
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    client = client_for(handler, timeout=30.0)
    client.get("/x")
    client.get("/x", timeout=2.0)
    assert [(t["connect"], t["read"]) for t in seen] == [(5.0, 30.0), (2.0, 2.0)]


def test_error_names_method_path_status_code_and_message():
    handler, _calls = flaky([404])
    with pytest.raises(ApiError) as err:
        client_for(handler, retries=0).get("/nodes/emqx@x")
    assert err.value.msg == "GET https://api.test/nodes/emqx@x returned HTTP 404 X: status 404"
    assert (err.value.status, err.value.code, err.value.message) == (404, "X", "status 404")


def test_secrets_are_masked_in_errors():
    def handler(request):
        return httpx.Response(400, json={"code": "BAD", "message": "token tok-123 rejected"})

    client = client_for(handler, retries=0)
    client.set_bearer("tok-123")
    with pytest.raises(ApiError) as err:
        client.get("/x")
    assert "tok-123" not in str(err.value.result())
    assert "********" in err.value.msg


def test_userinfo_in_url_is_not_echoed():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    client = HttpClient("https://user:pw@api.test", transport=httpx.MockTransport(handler), sleep=lambda s: None, retries=0)
    with pytest.raises(ApiError) as err:
        client.get("/x")
    assert "pw" not in err.value.msg


def test_tls_verification_is_on_by_default():
    import ssl

    assert tls_context().verify_mode == ssl.CERT_REQUIRED
    assert tls_context().check_hostname is True
    assert tls_context(validate_certs=False).verify_mode == ssl.CERT_NONE


def test_plain_http_loads_no_certificate_store_and_would_fail_closed():
    import ssl

    plain = tls_context(base_url="http://127.0.0.1:18083")
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname is True
    secure = tls_context(base_url="HTTPS://emqx.example:18084")
    assert secure.verify_mode == ssl.CERT_REQUIRED and secure.check_hostname is True


def test_httpx_command_line_is_not_imported_with_the_client():
    """A module run pays for importing the client, not httpx's CLI (rich, click, pygments)."""
    import os
    import subprocess
    import sys

    code = ("import sys; import ansible_collections.zerodowntime.cluster.plugins.module_utils._common.http as h; "
            "print(h.httpx is not None, sorted(m for m in ('rich', 'click', 'pygments') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout == "True []\n", out.stderr


def test_an_empty_environment_variable_is_not_a_value(monkeypatch):
    """An AWX credential renders an optional input left out as an empty variable: not given."""
    from ansible.module_utils.errors import AnsibleFallbackNotFound
    from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback

    monkeypatch.setenv("ZDT_FIRST", "")
    monkeypatch.setenv("ZDT_SECOND", "value")
    assert env_fallback("ZDT_FIRST", "ZDT_SECOND") == "value"
    monkeypatch.setenv("ZDT_SECOND", "")
    with pytest.raises(AnsibleFallbackNotFound):
        env_fallback("ZDT_FIRST", "ZDT_SECOND")
