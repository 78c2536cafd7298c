"""The flip against a failing ensemble: the leader dies in the middle of the transaction."""
import json
import os
import random
import subprocess
import time

import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, signal
from kildatest import BIN, ansible_env, module, targets

pytestmark = pytest.mark.timeout(180)
FLOODLIGHTS = [{"component": "floodlight", "env": "1"}, {"component": "floodlight", "env": "2"}]


def signal_stats(zk, prefix, items):
    out = {}
    for t in items:
        data, stat = zk.get("%s/%s/%s/signal" % (prefix, t["component"], t["env"]))
        out["%s/%s" % (t["component"], t["env"])] = (data.decode(), stat.mzxid)
    return out


def assert_one_transaction(stats, value, refreshed=()):
    assert {v for v, dummy in stats.values()} == {value}, stats
    # Every signal was written by the same multi: one zxid for all of them, but for the components
    # whose state Kilda lost in the election and the module refreshed (written again later).
    assert len({z for key, (dummy, z) in stats.items() if key not in refreshed}) <= 1, stats


def refreshed_keys(result):
    return {key for step in result.get("refreshed", []) for key in step["targets"]}


@pytest.mark.slow
def test_leader_killed_at_commit_completes_and_is_never_half_applied(healthy, blue, prefix, zk, monkeypatch):
    items = targets("blue") + FLOODLIGHTS
    params = dict(hosts=healthy.description["hosts"], prefix=prefix, targets=items, signal="SHUTDOWN",
                  build_version=None, create_missing=False, wait=True, wait_timeout=60, poll_interval=0.2,
                  connect_timeout=10, session_timeout=10, refresh_stale_state=True)
    real_commit = signal.commit
    killed = []

    def commit_after_leader_death(client, ops):
        if not killed:
            killed.append(healthy.fault("kill", "leader")["fault"]["target"])
        return real_commit(client, ops)

    monkeypatch.setattr(signal, "commit", commit_after_leader_death)
    client = connection.connect(params)
    try:
        result = signal.run(client, params, check_mode=False)
    finally:
        connection.close(client)
    assert killed and result["changed"]
    assert_one_transaction(signal_stats(zk, prefix, items), "SHUTDOWN", refreshed_keys(result))
    assert all(s["state"] == "0" for s in result["settled"])


@pytest.mark.slow
def test_leader_kills_at_random_moments_of_playbook_flips(healthy, blue, prefix, zk):
    items = targets("blue") + FLOODLIGHTS
    rng = random.Random(4)
    for flip in ("SHUTDOWN", "START", "SHUTDOWN"):
        # A state write that a component attempts during the election is lost, as in Kilda: refresh it as the role does.
        args = dict(hosts=healthy.description["hosts"], prefix=prefix, targets=items, signal=flip, wait_timeout=60,
                    poll_interval=0.2, refresh_stale_state=True)
        proc = subprocess.Popen(
            [os.path.join(BIN, "ansible"), "localhost", "-c", "local", "-m",
             "zerodowntime.cluster.kilda_zk_signal", "-a", json.dumps(args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ansible_env())
        time.sleep(rng.uniform(0.3, 1.2))  # somewhere in module start-up, commit or wait
        healthy.fault("kill", "leader")
        out, err = proc.communicate(timeout=120)
        assert out.strip(), err
        result = json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        assert not result.get("failed"), result.get("msg")
        assert_one_transaction(signal_stats(zk, prefix, items), flip, refreshed_keys(result))
        for server in healthy.status()["servers"]:
            if not server["alive"]:
                healthy.fault("start", server["name"])
    final = module("kilda_zk_info", dict(hosts=healthy.description["hosts"], prefix=prefix, env="blue",
                                         regions=["1", "2"]))
    assert final["verdict"]["states_settled"], final["verdict"]["problems"]
