"""Fixtures for the EMQX unit tests: the fake API, a fake clock, and a runner that executes a
whole module (argument parsing, check mode, exit_json/fail_json) against the fake."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx import client as client_mod

from fake_emqx import FakeEmqx  # pylint: disable=import-error


class FakeClock:
    """time.monotonic/time.sleep pair where sleeping just moves time forward."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake():
    return FakeEmqx()


@pytest.fixture
def clock():
    return FakeClock()


CONNECTION = {"api_url": "http://emqx.test:18083", "api_key": "key", "api_secret": "secret"}


def base_params(**overrides):
    params = dict(CONNECTION, api_version="auto", username=None, password=None, app_id=None, app_secret=None,
                  validate_certs=True, ca_path=None, client_cert=None, client_key=None, request_timeout=5.0,
                  wait=True, wait_timeout=60, poll_interval=1.0, restart_on_change=False)
    params.update(overrides)
    return params


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
