"""mqtt_probe ends through run_and_exit: an unexpected exception is a clean failure with its
message, fail_on_error keeps its message and report, and a probe never reports a change."""
import json

import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common import mqtt_probe as probe_utils
from ansible_collections.zerodowntime.cluster.plugins.modules import mqtt_probe

from module_args_compat import patch_module_args  # pylint: disable=import-error

ARGS = {"host": "127.0.0.1", "port": 1, "count": 2, "timeout": 1.0, "username": "probe", "password": "mqtt-s3cret"}


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            mqtt_probe.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def report(ok, errors=(), sent=2, received=2):
    return {"ok": ok, "host": "127.0.0.1", "port": 1, "protocol": "5", "sent": sent, "received": received,
            "lost": sent - received, "duplicates": 0, "connect_ms": 1.0, "latency_ms": {}, "errors": list(errors)}


def test_unexpected_error_is_a_clean_failure_without_the_password(monkeypatch, capsys):
    def broken(host, port, **kwargs):
        raise RuntimeError("paho thread crashed (password %s)" % kwargs["password"])

    monkeypatch.setattr(probe_utils, "probe", broken)
    code, result = run_main(ARGS, capsys)
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith("unexpected error: paho thread crashed")
    assert "mqtt-s3cret" not in json.dumps(result)


def test_fail_on_error_keeps_its_message_and_the_report(monkeypatch, capsys):
    monkeypatch.setattr(probe_utils, "probe", lambda host, port, **kwargs: report(False, ["CONNACK Not authorized"], 0, 0))
    code, result = run_main(dict(ARGS, fail_on_error=True), capsys)
    assert code == 1 and result["msg"] == "MQTT probe of 127.0.0.1:1 failed: CONNACK Not authorized"
    assert result["errors"] == ["CONNACK Not authorized"] and result["sent"] == 0


def test_a_failed_probe_without_fail_on_error_is_reported_not_failed(monkeypatch, capsys):
    monkeypatch.setattr(probe_utils, "probe", lambda host, port, **kwargs: report(False, [], 2, 1))
    code, result = run_main(ARGS, capsys)
    assert code == 0 and result["changed"] is False and result["ok"] is False and result["lost"] == 1


def test_bad_count_is_refused(capsys):
    code, result = run_main(dict(ARGS, count=0), capsys)
    assert code == 1 and result["msg"] == "count must be at least 1 and timeout positive"
