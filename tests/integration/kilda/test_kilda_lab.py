"""The simulators behave as the Kilda reference says even when ZooKeeper loses their session."""
import json
import os
import signal
import time

import pytest

from kildatest import labctl, module, targets

pytestmark = pytest.mark.timeout(120)


def report(lab, member):
    return {c["path"]: c for m in lab.status()["members"] if m["name"] == member for c in m["components"]}


@pytest.mark.slow
def test_simulator_survives_session_expiry_and_keeps_reacting(ensemble, kilda_labs, prefix):
    # Kilda's sessions last 30 s (the lab's default); 6 s here keeps the freeze short.
    lab = kilda_labs(prefix, "--env", "blue", "--no-services", "--bootstrap", "--session-timeout", "6")
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


@pytest.mark.slow
def test_a_lab_brought_up_again_in_its_old_workdir_waits_for_its_new_simulators(ensemble, kilda_labs, prefix):
    lab = kilda_labs(prefix, "--env", "blue", "--no-topologies", "--no-services", "--regions", "1", "--bootstrap")
    lab.down()
    # The first lab's files are still there; the new one is ready only when its own simulator is.
    labctl("up", "kilda", "--zk", ensemble.description["hosts"], "--prefix", prefix, "--env", "blue",
           "--no-topologies", "--no-services", "--regions", "1", "--workdir", lab.workdir)
    with open(os.path.join(lab.workdir, "lab.json")) as handle:
        member = json.load(handle)["members"]["floodlight-1"]
    with open(member["report"]) as handle:
        reported = json.load(handle)
    assert reported["pid"] == member["pid"]
    assert reported["components"][0]["active"] == 6, reported  # signal START found at start-up
