import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import layout


@pytest.mark.parametrize("value", ["", "green\n", " green", "green ", "gr\teen", "a\x00b"])
def test_build_version_refuses_values_kafka_filtering_would_break(value):
    with pytest.raises(ValidationError):
        layout.check_build_version(value)


def test_build_version_keeps_the_default_with_a_dollar():
    assert layout.check_build_version("v3r$i0n") == "v3r$i0n"


@pytest.mark.parametrize("value", ["start", "Start", "START\n", "NONE", ""])
def test_signal_is_case_exact(value):
    with pytest.raises(ValidationError):
        layout.check_signal(value)


def test_paths_are_absolute_under_the_prefix():
    target = layout.Target(layout.normalize_prefix("kilda/"), "server42-control", "green")
    assert target.child("build-version") == "/kilda/server42-control/green/build-version"
    assert target.parents() == ["/kilda", "/kilda/server42-control", "/kilda/server42-control/green"]


def test_duplicate_and_empty_targets_are_refused():
    with pytest.raises(ValidationError, match="listed twice"):
        layout.parse_targets("/kilda", [{"component": "network", "env": "blue"}] * 2)
    with pytest.raises(ValidationError):
        layout.parse_targets("/kilda", [])
    with pytest.raises(ValidationError, match="not a valid znode name"):
        layout.parse_targets("/kilda", [{"component": "net/work", "env": "blue"}])


def test_version_only_components_do_not_react():
    assert not layout.reacts_to_signal("northbound")
    assert not layout.reacts_to_signal("func_test")
    assert layout.reacts_to_signal("history") and layout.reacts_to_signal("floodlight")
