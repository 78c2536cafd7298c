"""The Xenon modules end through run_and_exit: an unexpected exception fails the task with its
message and no traceback on stdout, a URL the parser refuses keeps its own message, the session
token and password never appear in a failure, and the connection is closed whatever happens."""
import json

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon import module as xenon_module

from module_args_compat import patch_module_args  # pylint: disable=import-error

ARGS = {"url": "http://127.0.0.1:1", "password": "pw-s3cret", "wait_timeout": 5, "poll_interval": 1}
SPEC = {"url": {"type": "str"}, "password": {"type": "str", "no_log": True}, "wait_timeout": {"type": "float"},
        "poll_interval": {"type": "float"}}


class _Connection:
    token = "tok-s3cret"

    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def run(work, capsys, monkeypatch, connect=None):
    connection = _Connection()
    monkeypatch.setattr(xenon_module, "connect", connect or (lambda params: connection))
    with patch_module_args(ARGS):
        module = AnsibleModule(argument_spec=SPEC)
        with pytest.raises(SystemExit) as exit_info:
            xenon_module.run(module, work)
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out, connection


def test_an_unexpected_error_fails_with_its_message_masked_and_the_connection_closed(capsys, monkeypatch):
    def work(connection):
        raise RuntimeError("boom with %s inside" % connection.token)

    code, result, out, connection = run(work, capsys, monkeypatch)
    assert code != 0 and result["failed"]
    assert result["msg"].startswith("unexpected error: boom with ")
    assert "tok-s3cret" not in out and "pw-s3cret" not in out
    assert "Traceback" not in result["msg"] and connection.closed


def test_a_url_the_parser_refuses_keeps_its_message(capsys, monkeypatch):
    def refuse(params):
        raise ValueError("'' is not an absolute URI")

    code, result, _out, _connection = run(lambda c: {}, capsys, monkeypatch, connect=refuse)
    assert code != 0 and result["msg"] == "'' is not an absolute URI"


def test_a_result_is_returned_with_the_token_masked(capsys, monkeypatch):
    code, result, out, connection = run(lambda c: {"changed": False, "echo": "token %s" % c.token}, capsys, monkeypatch)
    assert code == 0 and not result.get("failed")
    assert "tok-s3cret" not in out and connection.closed
