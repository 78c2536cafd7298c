import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, info
from fakezk import FakeZk


def lab(**overrides):
    nodes = {}
    for name, env in (("network", "blue"), ("flowhs", "blue"), ("floodlight", "2"), ("network", "green")):
        base = "/kilda/%s/%s" % (name, env)
        nodes.update({base + "/signal": "START", base + "/state": "3", base + "/expected_state": "3",
                      base + "/build-version": "v1"})
    nodes.update({"/kilda/northbound/blue/signal": "", "/kilda/northbound/blue/build-version": "v1"})
    nodes.update(overrides)
    return FakeZk(nodes)


def run(zk, **kw):
    params = dict(prefix="/kilda", env="blue", components=None, regions=None)
    params.update(kw)
    return info.run(zk, params)


def test_discovers_the_colour_and_calls_it_consistent():
    result = run(lab(), regions=["2"])
    ids = [c["id"] for c in result["components"]]
    assert ids == ["flowhs/blue", "network/blue", "northbound/blue", "floodlight/2"]
    assert result["verdict"]["consistent"] and result["verdict"]["build_versions"] == ["v1"]
    northbound = result["components"][2]
    assert northbound["reacts_to_signal"] is False and northbound["settled"] is None


def test_different_build_versions_break_the_verdict_and_are_named():
    result = run(lab(**{"/kilda/flowhs/blue/build-version": "v2"}))
    verdict = result["verdict"]
    assert not verdict["consistent"] and not verdict["build_version_consistent"]
    assert any("flowhs/blue" in p and "'v2'" in p for p in verdict["problems"])


def test_unsettled_and_missing_components_are_reported():
    result = run(lab(**{"/kilda/flowhs/blue/state": "1", "/kilda/network/blue/signal": ""}),
                 components=["flowhs", "network", "stats", "floodlight/2"])
    by_id = {c["id"]: c for c in result["components"]}
    assert by_id["flowhs/blue"]["problem"] == "state=1, want expected_state=3"
    assert by_id["network/blue"]["problem"] == "no signal"
    assert by_id["stats/blue"]["exists"] is False
    assert sorted(result["verdict"]["unsettled"]) == ["flowhs/blue", "network/blue", "stats/blue"]
    assert not result["verdict"]["consistent"]


def test_missing_chroot_is_a_clear_error():
    with pytest.raises(ZdtError, match="/other does not exist"):
        run(lab(), prefix="/other")


def test_connection_options_map_to_kazoo():
    kwargs = connection.client_kwargs(dict(hosts="a:1,b:2", session_timeout=7, connect_timeout=3, username="u",
                                           password="p", use_tls=True, validate_certs=False, ca_path="/ca",
                                           client_cert="/c", client_key="/k"), read_only=True)
    assert kwargs["auth_data"] == [("digest", "u:p")] and kwargs["read_only"] is True
    assert kwargs["use_ssl"] and kwargs["verify_certs"] is False and kwargs["ca"] == "/ca"
    assert kwargs["certfile"] == "/c" and kwargs["keyfile"] == "/k" and kwargs["timeout"] == 7.0
    plain = connection.client_kwargs(dict(hosts="a:1"))
    assert "auth_data" not in plain and "use_ssl" not in plain


def test_every_connection_option_has_an_environment_fallback():
    for name, spec in connection.CONNECTION_ARGS.items():
        assert spec["fallback"][1][0].startswith("KILDA_ZK_"), name
    assert connection.CONNECTION_ARGS["password"]["no_log"] is True
