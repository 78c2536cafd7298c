"""Version-gated behaviour of a node (reference §1.6 and §2)."""


def parse(version):
    return tuple(int(part) for part in str(version).split("-", maxsplit=1)[0].split(".")[:3])


def at_least(version, minimum):
    return parse(version) >= parse(minimum)


def is_v4(version):
    return parse(version)[0] == 4


def availability_check_public(version):
    return at_least(version, "4.4.24") if is_v4(version) else at_least(version, "5.4.0")


def connections_allowed_during_health_check(version):
    return availability_check_public(version)


def evacuation_waits_for_health_check(version):
    return not is_v4(version) and at_least(version, "5.1.0")


def v4_nodes_have_live_connections(version):
    # emqx_mgmt.erl node_info/1 adds live_connections from 4.4.19
    return is_v4(version) and at_least(version, "4.4.19")


def has_rpc_timeouts(version):
    return not is_v4(version) and at_least(version, "5.9.0")
