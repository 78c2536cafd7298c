"""Every Kilda example of README.md, docs/ and the role READMEs runs against the lab as written - a
Kilda installation under the default chroot /kilda - with only the ZooKeeper and Kafka addresses
and the hook paths replaced, in check mode: each ends successfully, prints its plan (a phase that
a real run would refuse says why) and changes nothing in ZooKeeper or on disk."""
import os
import re
import time

import pytest

from estate import HOOK
from kildatest import tree, zk_client

import docs_examples  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(480)
PREFIX = "/kilda"  # the default the examples rely on (the default_chroot fixture empties it)


@pytest.mark.slow
def test_every_kilda_example_plans_against_the_lab_and_changes_nothing(ensemble, default_chroot, estate_factory, kilda_labs, tmp_path):
    hosts = ensemble.description["hosts"]
    estate = estate_factory(default_chroot)
    kafka = kilda_labs(PREFIX, "--env", "blue", "--no-topologies", "--no-services", "--kafka").description["kafka"]
    values = {"zk1:2181,zk2:2181,zk3:2181": hosts, "kafka1:9092": kafka}
    for hook in ("topologies", "floodlight", "northbound", "grpc", "kill-topologies"):
        values["/opt/kilda-deploy/%s.yml" % hook] = HOOK
    # the vars file the runbook's commands read
    (tmp_path / "vars.yml").write_text(docs_examples.replace(docs_examples.fragment("docs/kilda_blue_green.md", "# vars.yml"), values))
    examples = docs_examples.runnable("kilda")
    assert len(examples) >= 6, examples
    # the playbooks first (blue serving, green not deployed), then what needs green's topologies deployed
    examples.sort(key=lambda example: example[1] == "play")
    zk = zk_client(hosts)
    plans = []
    try:
        for doc, kind, text in examples:
            text = docs_examples.replace(text, values)
            if kind == "play" and not estate.units().count("topologies-green"):
                # the README's START example needs green's topologies deployed (the deploy phase's hooks)
                estate.up("topologies-green", "--env", "green", "--no-services", "--zk", hosts, "--prefix", PREFIX)
            before = tree(zk, PREFIX)
            started = time.monotonic()
            run = docs_examples.run_command(text, str(tmp_path)) if kind == "command" else docs_examples.run_play(text, str(tmp_path))
            took = time.monotonic() - started
            out = docs_examples.output(run)
            assert run.returncode == 0, "%s: %s\n%s" % (doc, text, out[-3000:])
            assert tree(zk, PREFIX) == before, "%s changed ZooKeeper in check mode: %s" % (doc, text)
            assert took < 90, "check mode of %s took %.0f s" % (text[:80], took)
            if kind == "command" or "kilda_blue_green" in text:  # the role's playbooks and plays plan
                assert "check mode: nothing was changed" in out.lower(), (doc, out[-3000:])
                plans.append((text, out))
    finally:
        zk.stop()
        zk.close()
    said = {re.search(r"kilda_(deploy_green|promote|rollback)\b", text).group(1): out for text, out in plans
            if re.search(r"kilda_(deploy_green|promote|rollback)\b", text)}
    assert sorted(said) == ["deploy_green", "promote", "rollback"], sorted(said)
    assert re.search(r"up to \d+(\.\d+)? s in all", said["deploy_green"]), "the plan gives its longest duration"
    # nothing is deployed: a promote now would be refused, and the plan says why
    assert "A promote now would be refused" in said["promote"] and "green is not ready" in said["promote"], said["promote"][-2000:]
    # before the promote, the clean-up says why it would be refused, naming what still runs
    cleanup = next(out for text, out in plans if "kilda_cleanup_offsets" in text)
    assert "A cleanup_offsets now would be refused" in cleanup and "blue still runs: " in cleanup, cleanup[-2000:]
    assert not [name for name in os.listdir(tmp_path) if name.startswith("kilda-blue-green")], "check mode wrote a journal or report"
