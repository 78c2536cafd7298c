"""The simulators behave as the Kilda reference says even when ZooKeeper loses their session."""
import json
import os
import signal
import time

import pytest

from kildatest import module, targets

pytestmark = pytest.mark.timeout(120)


def report(lab, member):
    return {c["path"]: c for m in lab.status()["members"] if m["name"] == member for c in m["components"]}


def test_simulator_survives_session_expiry_and_keeps_reacting(ensemble, kilda_labs, prefix):
    lab = kilda_labs(prefix, "--env", "blue", "--no-services", "--bootstrap")
    with open(os.path.join(lab.workdir, "lab.json")) as handle:
        pid = json.load(handle)["members"]["topologies-blue"]["pid"]
    # Frozen longer than its 6 s session timeout: the ensemble expires every session it had.
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(9)
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        network = report(lab, "topologies-blue")["%s/network/blue" % prefix]
        if network["session_losses"] >= 1:
            break
        time.sleep(0.2)
    assert network["session_losses"] >= 1

    flip = module("kilda_zk_signal", dict(hosts=ensemble.description["hosts"], prefix=prefix,
                                          targets=targets("blue"), signal="SHUTDOWN", wait_timeout=30,
                                          poll_interval=0.2))
    assert not flip.get("failed"), flip.get("msg")
    after = report(lab, "topologies-blue")
    assert all(c["active"] == 0 and c["last_signal"] == "SHUTDOWN" for c in after.values()), after
