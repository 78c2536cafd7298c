"""Fixtures for the EMQX unit tests: the fake API, a fake clock, and a runner that executes a
whole module (argument parsing, check mode, exit_json/fail_json) against the fake."""
import json

import pytest
from module_args_compat import patch_module_args  # pylint: disable=import-error

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx import client as client_mod

from fake_emqx import CONNECTION, FakeClock, FakeEmqx  # pylint: disable=import-error


@pytest.fixture
def fake():
    return FakeEmqx()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def run_module(monkeypatch, capsys):
    """run_module(main, fake, args, check_mode=False) -> (failed, result dict)."""

    def run(main, fake, args, check_mode=False, diff=False):
        monkeypatch.setattr(client_mod, "DEFAULT_TRANSPORT", fake.transport)
        full = dict(CONNECTION)
        if not main.__module__.endswith("_info"):  # info modules never wait
            full.update(poll_interval=0.01, wait_timeout=5)
        full.update(args)
        full = {k: v for k, v in full.items() if v is not None}  # None means "not given"
        if check_mode:
            full["_ansible_check_mode"] = True
        if diff:
            full["_ansible_diff"] = True
        with patch_module_args(full):
            with pytest.raises(SystemExit) as exit_info:
                main()
        result = json.loads(capsys.readouterr().out)
        return exit_info.value.code != 0 or result.get("failed", False), result

    return run
