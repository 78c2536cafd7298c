"""The Kilda modules end through run_and_exit: an unexpected exception fails the task with its
message (no traceback on stdout), the ZooKeeper/Kafka specific messages stay, and the ZooKeeper
client is closed whatever happens."""
import json

import pytest
from kazoo.exceptions import NoAuthError

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, info, kafka_groups, signal
from ansible_collections.zerodowntime.cluster.plugins.modules import kilda_kafka_offsets, kilda_zk_info, kilda_zk_signal

from module_args_compat import patch_module_args  # pylint: disable=import-error

SIGNAL_ARGS = {"hosts": "127.0.0.1:1", "targets": [{"component": "network", "env": "green"}], "signal": "START",
               "wait": False, "password": "zk-s3cret", "username": "ops"}
INFO_ARGS = {"hosts": "127.0.0.1:1", "env": "green"}
KAFKA_ARGS = {"bootstrap_servers": "127.0.0.1:1", "colour": "blue", "sasl_username": "ops", "sasl_password": "kafka-s3cret"}
ZK_MODULES = [(kilda_zk_signal, SIGNAL_ARGS), (kilda_zk_info, INFO_ARGS)]


def run_main(module, args, capsys):
    """Run the module's main() as Ansible would; return (exit code, result dict from stdout)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


class _Client:
    """Stands for a started KazooClient: only records that it was stopped and closed."""

    def __init__(self):
        self.calls = []

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


@pytest.mark.parametrize("module,args", ZK_MODULES, ids=["kilda_zk_signal", "kilda_zk_info"])
def test_unexpected_error_while_connecting_is_a_clean_failure(module, args, monkeypatch, capsys):
    def broken(params, read_only=False):
        raise RuntimeError("handler thread died")

    monkeypatch.setattr(connection, "connect", broken)
    code, result = run_main(module, args, capsys)
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "unexpected error: handler thread died"


@pytest.mark.parametrize("module,args,service", [(kilda_zk_signal, SIGNAL_ARGS, signal), (kilda_zk_info, INFO_ARGS, info)],
                         ids=["kilda_zk_signal", "kilda_zk_info"])
def test_unexpected_error_in_the_service_fails_cleanly_and_closes_the_client(module, args, service, monkeypatch, capsys):
    client = _Client()
    monkeypatch.setattr(connection, "connect", lambda params, read_only=False: client)

    def broken(*_unused, **_kwargs):
        raise KeyError("stat")

    monkeypatch.setattr(service, "run", broken)
    code, result = run_main(module, args, capsys)
    assert code == 1 and result["msg"] == "unexpected error: 'stat'"
    assert client.calls == ["stop", "close"]


def test_zookeeper_errors_keep_their_own_message(monkeypatch, capsys):
    client = _Client()
    monkeypatch.setattr(connection, "connect", lambda params, read_only=False: client)

    def refused(*_unused, **_kwargs):
        raise NoAuthError()

    monkeypatch.setattr(signal, "run", refused)
    code, result = run_main(kilda_zk_signal, SIGNAL_ARGS, capsys)
    assert code == 1 and "ZooKeeper refused access (NoAuth)" in result["msg"] and "'ops'" in result["msg"]
    assert result["error"] == "NoAuthError" and "zk-s3cret" not in json.dumps(result)
    assert client.calls == ["stop", "close"]


def test_unreachable_ensemble_keeps_its_message(monkeypatch, capsys):
    def unreachable(params, read_only=False):
        raise ZdtError("could not connect to ZooKeeper at %s within 10.0s" % params["hosts"], hosts=params["hosts"])

    monkeypatch.setattr(connection, "connect", unreachable)
    code, result = run_main(kilda_zk_info, INFO_ARGS, capsys)
    assert code == 1 and result["msg"] == "could not connect to ZooKeeper at 127.0.0.1:1 within 10.0s"
    assert result["hosts"] == "127.0.0.1:1"


def test_kafka_offsets_unexpected_error_is_a_clean_failure_with_the_secret_masked(monkeypatch, capsys):
    def broken(conf):
        raise RuntimeError("librdkafka said no to %s" % conf["sasl.password"])

    monkeypatch.setattr(kafka_groups, "AdminClient", broken)
    code, result = run_main(kilda_kafka_offsets, KAFKA_ARGS, capsys)
    assert code == 1 and result["msg"].startswith("unexpected error: librdkafka said no to ")
    assert "kafka-s3cret" not in json.dumps(result)


def test_kafka_admin_client_that_cannot_be_created_is_a_kafka_error(capsys):
    code, result = run_main(kilda_kafka_offsets, dict(KAFKA_ARGS, security_protocol="SASL_PLAINTEXT",
                                                      sasl_mechanism="NO-SUCH-MECHANISM"), capsys)
    assert code == 1
    assert result["msg"].startswith("cannot create a Kafka admin client for 127.0.0.1:1: ")
    assert "NO-SUCH-MECHANISM" in result["msg"] and result["kafka_error"] == "_INVALID_ARG"
