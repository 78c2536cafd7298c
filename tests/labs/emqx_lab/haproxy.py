"""HAProxy in front of the nodes' MQTT listeners, health-checking availability_check as in the
seed's configuration, with a runtime API socket and a stats page."""

from labcommon import haproxy_runtime


def render(workdir_socket, mqtt_port, stats_port, servers, check_path, auth_header):
    """``servers``: list of (haproxy name, mqtt port, health-check port)."""
    lines = [
        "global",
        "    maxconn 8000",
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
        "    maxconn 6000",
        "    default_backend emqx_mqtt",
        "",
        "backend emqx_mqtt",
        "    mode tcp",
        "    balance leastconn",
        "    option httpchk",
        "    http-check send meth GET uri %s hdr Authorization \"%s\"" % (check_path, auth_header),
    ]
    for name, port, check_port in servers:
        lines.append("    server %s 127.0.0.1:%d check port %d inter 1s fall 2 rise 5 weight 1 maxconn 3000"
                     % (name, port, check_port))
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
