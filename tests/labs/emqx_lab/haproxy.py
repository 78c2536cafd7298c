"""HAProxy in front of the nodes' MQTT listeners, health-checking availability_check as in the
seed's configuration, with a runtime API socket and a stats page."""

import resource

from labcommon import haproxy_runtime

# HAProxy holds two descriptors per proxied connection (client and server side) plus a few for its
# listeners, checks and runtime socket, and refuses to start when maxconn needs more than the
# process may open. The seed's frontend has maxconn 50000; the lab gives each balancer as many
# connections as the open-files limit allows (9,950 under a hard limit of 20,000, which an
# unprivileged lab cannot raise: two balancers carry 10,000 clients there).
RESERVED_FDS = 100


def max_connections():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = 100000 if hard == resource.RLIM_INFINITY else hard
    return max(1000, min(50000, (limit - RESERVED_FDS) // 2))


def render(workdir_socket, mqtt_port, stats_port, servers, check_path, auth_header):
    """``servers``: list of (haproxy name, address, mqtt port, health-check port)."""
    maxconn = max_connections()
    lines = [
        "global",
        "    maxconn %d" % maxconn,
        "    stats socket %s mode 600 level admin" % workdir_socket,
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 60m",
        "    timeout server 60m",
        "    timeout check 2s",
        "    retries 3",
        "    option redispatch",
        "",
        "frontend stats",
        "    mode http",
        "    bind 127.0.0.1:%d" % stats_port,
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 5s",
        "",
        "frontend mqtt",
        "    bind 127.0.0.1:%d" % mqtt_port,
        "    mode tcp",
        "    maxconn %d" % maxconn,
        "    default_backend emqx_mqtt",
        "",
        "backend emqx_mqtt",
        "    mode tcp",
        "    balance leastconn",
        "    option httpchk",
        "    http-check send meth GET uri %s hdr Authorization \"%s\"" % (check_path, auth_header),
    ]
    for name, address, port, check_port in servers:
        lines.append("    server %s %s:%d check port %d inter 1s fall 2 rise 5 weight 1"
                     % (name, address, port, check_port))
    return "\n".join(lines) + "\n"


def runtime(sock_path, command, timeout=5.0):
    """Send one command to the runtime API socket and return the answer."""
    return haproxy_runtime.command(sock_path, command, timeout)


def server_states(sock_path, backend="emqx_mqtt"):
    """{server name: "UP"|"DOWN"|...} from ``show stat``."""
    out = {}
    lines = runtime(sock_path, "show stat").splitlines()
    if not lines:
        return out
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") not in ("BACKEND", "FRONTEND"):
            out[row["svname"]] = row.get("status", "")
    return out
