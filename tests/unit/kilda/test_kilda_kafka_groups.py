import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import kafka_groups

EXISTING = [
    "flowhs_blue__kafka-spout", "flowhs_green__kafka-spout", "network_blue__speaker-spout", "server42-control_blue__x",
    "grpc-speaker-consumer-blue", "grpc-speaker-consumer-green", "northbound-consumer", "floodlight_1",
    "server42-control", "flowhs_blue", "kilda_flowhs_blue__kafka-spout",
]


def chosen(colour="blue", prefix="", **kw):
    patterns = kafka_groups.colour_patterns(colour, prefix, extra_patterns=kw.pop("patterns", ()))
    return kafka_groups.select(EXISTING, patterns, naming_prefix=prefix, **kw)


def test_only_the_colour_specific_groups_are_selected():
    assert chosen() == ["flowhs_blue__kafka-spout", "grpc-speaker-consumer-blue", "network_blue__speaker-spout",
                        "server42-control_blue__x"]
    assert chosen("green") == ["flowhs_green__kafka-spout", "grpc-speaker-consumer-green"]


def test_naming_prefix_is_part_of_the_name():
    assert chosen(prefix="kilda") == ["kilda_flowhs_blue__kafka-spout"]


def test_extra_groups_and_patterns_but_never_the_shared_northbound_group():
    assert "floodlight_1" in chosen(extra_groups=["floodlight_1", "not-there"])
    assert "not-there" not in chosen(extra_groups=["floodlight_1", "not-there"])
    with pytest.raises(ValidationError, match="northbound-consumer"):
        chosen(patterns=["^north"])


def test_bad_pattern_is_a_validation_error():
    with pytest.raises(ValidationError, match="regular expression"):
        chosen(patterns=["(unclosed"])


class FakeFuture:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    def result(self, timeout=None):
        if self.error:
            raise self.error
        return self.value


class FakeAdmin:
    def __init__(self, groups, refuse=()):
        self.groups = set(groups)
        self.refuse = set(refuse)
        self.deleted = []

    def list_consumer_groups(self, request_timeout=None):
        listing = type("Listing", (), {"valid": [type("G", (), {"group_id": g})() for g in sorted(self.groups)]})()
        return FakeFuture(listing)

    def delete_consumer_groups(self, groups, request_timeout=None):
        out = {}
        for group in groups:
            if group in self.refuse:
                out[group] = FakeFuture(error=kafka_groups.KafkaException("NON_EMPTY_GROUP"))
            else:
                self.groups.discard(group)
                self.deleted.append(group)
                out[group] = FakeFuture()
        return out


def params(**kw):
    out = dict(bootstrap_servers="k:9092", colour="blue", naming_prefix="", topologies=None, groups=[], patterns=[],
               request_timeout=1.0)
    out.update(kw)
    return out


def test_check_mode_deletes_nothing_and_second_run_changes_nothing():
    admin = FakeAdmin(EXISTING)
    predicted = kafka_groups.run(params(), check_mode=True, admin=admin)
    assert predicted["changed"] and admin.deleted == []
    done = kafka_groups.run(params(), check_mode=False, admin=admin)
    assert done["deleted"] == predicted["deleted"] and sorted(admin.deleted) == predicted["deleted"]
    assert "northbound-consumer" in done["kept"]
    assert kafka_groups.run(params(), check_mode=False, admin=admin)["changed"] is False


def test_a_group_with_members_fails_and_is_named():
    admin = FakeAdmin(EXISTING, refuse=["flowhs_blue__kafka-spout"])
    with pytest.raises(kafka_groups.ZdtError, match="flowhs_blue__kafka-spout") as err:
        kafka_groups.run(params(), check_mode=False, admin=admin)
    assert err.value.details["changed"] is True and "grpc-speaker-consumer-blue" in err.value.details["deleted"]
