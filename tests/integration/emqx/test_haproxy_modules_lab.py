"""haproxy_server, haproxy_backend_info and haproxy_rate_limit against the EMQX lab's real HAProxy:
a green server that is defined but not started fails its health checks (DOWN), which is where
draining used to report a change on every run; the process-wide session rate limit; and the
timeout option of the modules."""
import os
import socket
import threading
import time

import pytest

from emqxtest import run_module  # pylint: disable=import-error
from labcommon import haproxy_runtime  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(240)


def _servers(d, colour):
    return [s for s, n in sorted(d["lb"]["servers"].items()) if n in [x["name"] for x in d["nodes"] if x["colour"] == colour]]


def _admin_flags(d, server):
    """srv_admin_state of ``server`` straight from HAProxy."""
    lines = haproxy_runtime.command(d["lb"]["runtime_socket"], "show servers state %s" % d["lb"]["backend"]).splitlines()
    header = lines[1].lstrip("# ").split()
    for line in lines[2:]:
        row = dict(zip(header, line.split()))
        if row.get("srv_name") == server:
            return int(row["srv_admin_state"])
    raise AssertionError("no server %s" % server)


def _session_rate_limit(d):
    info = haproxy_runtime.command(d["lb"]["runtime_socket"], "show info")
    return int([line.split(": ", 1)[1] for line in info.splitlines() if line.startswith("SessRateLimit: ")][0])


@pytest.mark.slow
def test_drained_server_whose_checks_fail_is_not_drained_again(lab_factory, tmp_path):
    lab = lab_factory("emqx", "--blue", 1, "--green", 1)
    d = lab.description
    green = _servers(d, "green")[0]
    base = {"socket": d["lb"]["runtime_socket"], "backend": d["lb"]["backend"], "server": green}
    rc, lb = run_module("haproxy_backend_info", {"socket": base["socket"], "backend": base["backend"], "timeout": 2.5})
    assert rc == 0 and lb["by_name"][green]["status"] == "DOWN", "a green node that is not started fails its checks"

    # DOWN with weight 0: out of rotation anyway, so drain leaves it alone
    haproxy_runtime.command(base["socket"], "set weight %s/%s 0" % (base["backend"], green))
    rc, untouched = run_module("haproxy_server", dict(base, state="drain"))
    assert rc == 0 and untouched["changed"] is False and untouched["weight"] == 0, untouched
    assert _admin_flags(d, green) == 0
    haproxy_runtime.command(base["socket"], "set weight %s/%s 1" % (base["backend"], green))

    rc, predicted = run_module("haproxy_server", dict(base, state="drain"), check=True)
    assert rc == 0 and predicted["changed"] is True and _admin_flags(d, green) == 0, "check mode changes nothing"
    rc, first = run_module("haproxy_server", dict(base, state="drain", timeout=2.5))
    assert rc == 0 and first["changed"] is True, first
    assert first["status"] == "DOWN" and first["admin_state"] == "drain"
    assert _admin_flags(d, green) & 0x08, "HAProxy records the forced drain"
    rc, second = run_module("haproxy_server", dict(base, state="drain"))
    assert rc == 0 and second["changed"] is False, "a drained DOWN server is drained: %s" % second
    assert second["before"] == "DOWN" and second["admin_state"] == "drain"
    rc, ready = run_module("haproxy_server", dict(base, state="ready"))
    assert rc == 0 and ready["changed"] is True and _admin_flags(d, green) == 0

    # a server that passes its checks shows DRAIN
    blue = _servers(d, "blue")[0]
    rc, drained = run_module("haproxy_server", dict(base, server=blue, state="drain"))
    assert rc == 0 and drained["changed"] is True and drained["status"] == "DRAIN"
    rc, back = run_module("haproxy_server", dict(base, server=blue, state="ready"))
    assert rc == 0 and back["changed"] is True and back["status"] == "UP"

    # the process-wide session rate limit: set, read back by HAProxy itself and by haproxy_backend_info, put back
    rc, predicted = run_module("haproxy_rate_limit", {"socket": base["socket"], "sessions": 460}, check=True)
    assert rc == 0 and predicted["changed"] is True and predicted["sessions"] == 460 and _session_rate_limit(d) == 0
    rc, held = run_module("haproxy_rate_limit", {"socket": base["socket"], "sessions": 460})
    assert rc == 0 and held["changed"] is True and held["before"] == 0 and _session_rate_limit(d) == 460
    rc, again = run_module("haproxy_rate_limit", {"socket": base["socket"], "sessions": 460})
    assert rc == 0 and again["changed"] is False
    rc, lb = run_module("haproxy_backend_info", {"socket": base["socket"], "backend": base["backend"]})
    assert rc == 0 and lb["session_rate_limit"] == 460
    rc, back = run_module("haproxy_rate_limit", {"socket": base["socket"], "sessions": held["before"]})
    assert rc == 0 and back["changed"] is True and _session_rate_limit(d) == 0

    # a stats socket that accepts and never answers (a hung HAProxy): the timeout bounds the task
    path = os.path.join(str(tmp_path), "hung.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    held = []

    def hold():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    try:
        started = time.monotonic()
        rc, failed = run_module("haproxy_server", dict(base, socket=path, state="ready", timeout=0.5))
        assert rc != 0 and failed["msg"] == "HAProxy runtime API at %s did not answer 'show stat' within 0.5s (timeout)" % path
        assert time.monotonic() - started < 15, "bounded by the timeout, not by the default"
    finally:
        listener.close()
        for conn in held:
            conn.close()
