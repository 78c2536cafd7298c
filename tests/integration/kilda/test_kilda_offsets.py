"""Post-deployment clean-up of the old colour's consumer groups, against a real
Kafka-protocol broker (Tansu, run by the Kilda lab with --kafka)."""
import os

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kildatest import ROOT, failures, module, playbook, targets

pytestmark = pytest.mark.timeout(120)
BLUE_GROUPS = ["flowhs_blue__kafka-spout", "network_blue__speaker-spout", "grpc-speaker-consumer-blue"]
OTHER_GROUPS = ["flowhs_green__kafka-spout", "grpc-speaker-consumer-green", "northbound-consumer", "floodlight_1",
                "server42-control"]


@pytest.fixture
def kafka(kilda_labs, prefix):
    lab = kilda_labs(prefix, "--env", "blue", "--no-topologies", "--no-services", "--kafka", "--bootstrap")
    servers = lab.description["kafka"]
    admin = AdminClient({"bootstrap.servers": servers})
    admin.create_topics([NewTopic("kilda.topo.flow", 1, 1)])["kilda.topo.flow"].result(timeout=20)
    for group in BLUE_GROUPS + OTHER_GROUPS:
        consumer = Consumer({"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition("kilda.topo.flow", 0, 7)], asynchronous=False)
        consumer.close()
    return servers, admin


def groups(admin):
    return sorted(g.group_id for g in admin.list_consumer_groups().result(timeout=20).valid)


@pytest.mark.slow
def test_module_deletes_only_the_old_colours_groups(kafka):
    servers, admin = kafka
    args = {"bootstrap_servers": servers, "colour": "blue", "request_timeout": 10}
    predicted = module("kilda_kafka_offsets", args, check=True)
    assert not predicted.get("failed"), predicted.get("msg")
    assert predicted["changed"] and predicted["deleted"] == sorted(BLUE_GROUPS)
    assert groups(admin) == sorted(BLUE_GROUPS + OTHER_GROUPS)

    done = module("kilda_kafka_offsets", args)
    assert not done.get("failed"), done.get("msg")
    assert done["deleted"] == sorted(BLUE_GROUPS)
    assert groups(admin) == sorted(OTHER_GROUPS)
    # The green colour's committed offsets are untouched.
    green = Consumer({"bootstrap.servers": servers, "group.id": "flowhs_green__kafka-spout"})
    try:
        assert green.committed([TopicPartition("kilda.topo.flow", 0)], timeout=20)[0].offset == 7
    finally:
        green.close()

    again = module("kilda_kafka_offsets", args)
    assert not again.get("failed") and again["changed"] is False and again["deleted"] == []


@pytest.mark.slow
def test_role_cleans_up_only_after_the_old_colour_drained(ensemble, kafka, prefix, tmp_path):
    servers, admin = kafka
    extra = dict(kilda_blue_green_hosts=ensemble.description["hosts"], kilda_blue_green_prefix=prefix,
                 kilda_blue_green_kafka_bootstrap_servers=servers, kilda_blue_green_poll_interval=0.2,
                 kilda_blue_green_journal_path=str(tmp_path / "journal.json"))
    path = os.path.join(ROOT, "playbooks", "kilda_cleanup_offsets.yml")
    rc, out = playbook(path, extra)
    assert rc != 0 and [name.split(" : ")[-1] for name, _msg in failures(out)] == ["Refuse while blue still runs"]
    assert groups(admin) == sorted(BLUE_GROUPS + OTHER_GROUPS)

    drained = module("kilda_zk_signal", dict(hosts=ensemble.description["hosts"], prefix=prefix,
                                             targets=targets("blue"), signal="SHUTDOWN", wait_timeout=20))
    assert not drained.get("failed"), drained.get("msg")
    rc, out = playbook(path, extra)
    assert rc == 0, out
    assert groups(admin) == sorted(OTHER_GROUPS)
