"""haproxy_server, haproxy_backend_info and haproxy_rate_limit against a fake runtime API socket
that answers like HAProxy 2.6: the administrative state comes from `show servers state` (a drained
server whose checks fail is DOWN in `show stat`), the session rate limit from `show info`, the
timeout option, and run_and_exit's clean failures."""
import json
import os
import socket
import tempfile
import threading
import time

import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common import haproxy
from ansible_collections.zerodowntime.cluster.plugins.modules import haproxy_backend_info, haproxy_rate_limit, haproxy_server

from module_args_compat import patch_module_args  # pylint: disable=import-error

STAT_HEADER = "# pxname,svname,scur,stot,status,weight,check_status,lastchg\n"
STATE_HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
                "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
                "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
                "srv_check_addr srv_agent_addr srv_agent_port\n")
# HAProxy's admin flags and what show stat prints for them
FDRAIN, FMAINT, IMAINT = 0x08, 0x01, 0x02


class FakeHAProxy:
    """A runtime API on a UNIX socket: servers of backend ``emqx_mqtt`` with op state, admin flags
    and weight; `set server ... state` changes the forced flags the way HAProxy does."""

    def __init__(self, path, servers, silent=False, admin=True):
        self.path = path
        self.servers = servers  # name -> dict(op=0|2, admin=flags, weight=int)
        self.silent = silent
        self.admin = admin
        self.session_rate_limit = 0
        self.commands = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _unused = self.sock.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile().readline().strip()
                self.commands.append(line)
                if self.silent:
                    self.stopped.wait(5)
                    continue
                conn.sendall(self.answer(line).encode())

    def status(self, srv):
        if srv["admin"] & (FMAINT | IMAINT):
            return "MAINT"
        if srv["op"] == 0:
            return "DOWN"  # HAProxy shows a drained server whose checks fail as DOWN
        return "DRAIN" if srv["admin"] & FDRAIN else "UP"

    def answer(self, line):
        words = line.split()
        if line == "show stat":
            rows = ["emqx_mqtt,FRONTEND,0,0,OPEN,,,"]
            rows += ["emqx_mqtt,%s,0,0,%s,%d,L4OK,5" % (n, self.status(s), s["weight"]) for n, s in self.servers.items()]
            return STAT_HEADER + "\n".join(rows) + "\n\n"
        if words[:3] == ["show", "servers", "state"]:
            rows = ["3 emqx_mqtt %d %s 127.0.0.1 %d %d %d 1 5 6 3 1 6 0 0 0 - 1883 - 0 0 - - 0" % (
                i, n, s["op"], s["admin"], s["weight"]) for i, (n, s) in enumerate(self.servers.items(), 1)]
            return STATE_HEADER + "\n".join(rows) + "\n\n"
        if line == "show info":
            return "Name: HAProxy\nVersion: 2.6.12\nSessRate: 3\nSessRateLimit: %d\nMaxSessRate: 40\n\n" % self.session_rate_limit
        if words[:4] == ["set", "rate-limit", "sessions", "global"]:
            if not self.admin:
                return "Permission denied\n\n"
            self.session_rate_limit = int(words[4])
            return "\n"
        if words[:2] == ["set", "server"] and words[3] == "state":
            srv = self.servers[words[2].split("/")[1]]
            forced = {"ready": 0, "drain": FDRAIN, "maint": FMAINT}[words[4]]
            srv["admin"] = (srv["admin"] & ~(FDRAIN | FMAINT)) | forced
            return "\n"
        return "Unknown command.\n"

    def stop(self):
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def lb():
    made = []
    workdir = tempfile.mkdtemp(prefix="zdt-hx-")

    def start(servers, silent=False, admin=True):
        fake = FakeHAProxy(os.path.join(workdir, "admin%d.sock" % len(made)), servers, silent, admin)
        made.append(fake)
        return fake

    yield start
    for fake in made:
        fake.stop()


def run_main(module, args, capsys, check_mode=False, diff=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def server_args(fake, server, state, **extra):
    return dict({"socket": fake.path, "backend": "emqx_mqtt", "server": server, "state": state}, **extra)


def test_redraining_a_drained_server_whose_checks_fail_changes_nothing(lb, capsys):
    fake = lb({"blue1": {"op": 0, "admin": FDRAIN, "weight": 1}})
    code, result = run_main(haproxy_server, server_args(fake, "blue1", "drain"), capsys, diff=True)
    assert code == 0 and result["changed"] is False
    assert result["status"] == "DOWN" and result["admin_state"] == "drain"
    assert result["diff"] == {"before": {"state": "drain"}, "after": {"state": "drain"}}
    assert not [c for c in fake.commands if c.startswith("set ")]


def test_a_down_server_with_weight_0_is_out_of_rotation_and_counts_as_drained(lb, capsys):
    fake = lb({"blue1": {"op": 0, "admin": 0, "weight": 0}})
    code, result = run_main(haproxy_server, server_args(fake, "blue1", "drain"), capsys)
    assert code == 0 and result["changed"] is False and result["weight"] == 0
    assert not [c for c in fake.commands if c.startswith("set ")]


def test_draining_a_down_server_sets_the_flag_once(lb, capsys):
    fake = lb({"blue1": {"op": 0, "admin": 0, "weight": 1}})
    code, first = run_main(haproxy_server, server_args(fake, "blue1", "drain"), capsys)
    assert code == 0 and first["changed"] is True and first["admin_state"] == "drain"
    assert "set server emqx_mqtt/blue1 state drain" in fake.commands
    code, second = run_main(haproxy_server, server_args(fake, "blue1", "drain"), capsys)
    assert code == 0 and second["changed"] is False


def test_check_mode_predicts_and_sends_no_set(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}})
    code, result = run_main(haproxy_server, server_args(fake, "blue1", "maint"), capsys, check_mode=True, diff=True)
    assert code == 0 and result["changed"] is True and result["admin_state"] == "maint"
    assert result["diff"] == {"before": {"state": "ready"}, "after": {"state": "maint"}}
    assert not [c for c in fake.commands if c.startswith("set ")]


def test_ready_clears_drain_and_an_inherited_maintenance_is_reported(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": FDRAIN, "weight": 1}, "blue2": {"op": 0, "admin": IMAINT, "weight": 1}})
    code, result = run_main(haproxy_server, server_args(fake, "blue1", "ready"), capsys)
    assert code == 0 and result["changed"] is True and result["status"] == "UP" and result["before"] == "DRAIN"
    code, result = run_main(haproxy_server, server_args(fake, "blue2", "ready"), capsys)
    assert code == 1 and "still in maint" in result["msg"] and "inherited from a tracked server" in result["msg"]


def test_the_session_rate_limit_is_set_once_read_back_and_put_back(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}})
    code, info = run_main(haproxy_backend_info, {"socket": fake.path, "backend": "emqx_mqtt"}, capsys)
    assert code == 0 and info["session_rate_limit"] == 0
    code, held = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": 460}, capsys, diff=True)
    assert code == 0 and held["changed"] is True and held["before"] == 0 and held["sessions"] == 460
    assert held["diff"] == {"before": {"sessions": 0}, "after": {"sessions": 460}}
    assert fake.session_rate_limit == 460 and "set rate-limit sessions global 460" in fake.commands
    code, again = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": 460}, capsys)
    assert code == 0 and again["changed"] is False and again["before"] == 460
    assert fake.commands.count("set rate-limit sessions global 460") == 1
    code, info = run_main(haproxy_backend_info, {"socket": fake.path, "backend": "emqx_mqtt"}, capsys)
    assert info["session_rate_limit"] == 460
    code, back = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": held["before"]}, capsys)
    assert code == 0 and back["changed"] is True and back["sessions"] == 0 and fake.session_rate_limit == 0


def test_check_mode_predicts_the_session_rate_limit_and_sends_no_set(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}})
    code, result = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": 200}, capsys, check_mode=True)
    assert code == 0 and result["changed"] is True and result["before"] == 0 and result["sessions"] == 200
    assert fake.session_rate_limit == 0 and not [c for c in fake.commands if c.startswith("set ")]


def test_a_negative_session_rate_limit_is_refused_before_anything_is_sent(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}})
    code, result = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": -1}, capsys)
    assert code == 1 and result["msg"] == "sessions must be 0 (no limit) or a positive number of new sessions per second, got -1"
    assert fake.commands == []


def test_a_socket_without_the_admin_level_is_named_as_the_cause(lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}}, admin=False)
    code, result = run_main(haproxy_rate_limit, {"socket": fake.path, "sessions": 460}, capsys)
    assert code == 1 and result["msg"] == "HAProxy refused 'set rate-limit sessions global 460': Permission denied"
    assert fake.session_rate_limit == 0


@pytest.mark.parametrize("module,extra", [(haproxy_server, {"server": "blue1", "state": "drain"}), (haproxy_backend_info, {})],
                         ids=["haproxy_server", "haproxy_backend_info"])
def test_timeout_bounds_a_runtime_api_that_does_not_answer(module, extra, lb, capsys):
    fake = lb({"blue1": {"op": 2, "admin": 0, "weight": 1}}, silent=True)
    started = time.monotonic()
    code, result = run_main(module, dict({"socket": fake.path, "backend": "emqx_mqtt", "timeout": 0.3}, **extra), capsys)
    assert time.monotonic() - started < 3
    assert code == 1 and result["msg"] == "HAProxy runtime API at %s did not answer 'show stat' within 0.3s (timeout)" % fake.path


@pytest.mark.parametrize("module", [haproxy_server, haproxy_backend_info], ids=["haproxy_server", "haproxy_backend_info"])
def test_timeout_must_be_positive(module, capsys):
    code, result = run_main(module, {"socket": "/nonexistent.sock", "backend": "b", "server": "s", "state": "drain",
                                     "timeout": 0} if module is haproxy_server else
                            {"socket": "/nonexistent.sock", "backend": "b", "timeout": 0}, capsys)
    assert code == 1 and result["msg"] == "timeout must be a positive number of seconds, got 0.0"


@pytest.mark.parametrize("module,extra", [(haproxy_server, {"server": "blue1", "state": "drain"}), (haproxy_backend_info, {})],
                         ids=["haproxy_server", "haproxy_backend_info"])
def test_missing_socket_keeps_its_message(module, extra, tmp_path, capsys):
    path = str(tmp_path / "absent.sock")
    code, result = run_main(module, dict({"socket": path, "backend": "emqx_mqtt"}, **extra), capsys)
    assert code == 1 and result["msg"] == "HAProxy runtime API at %s: [Errno 2] No such file or directory" % path


@pytest.mark.parametrize("module,extra", [(haproxy_server, {"server": "blue1", "state": "drain"}), (haproxy_backend_info, {})],
                         ids=["haproxy_server", "haproxy_backend_info"])
def test_unexpected_error_is_a_clean_failure(module, extra, monkeypatch, capsys):
    def broken(address, command, timeout=5.0):
        raise RuntimeError("runtime API answered garbage to %s" % command)

    monkeypatch.setattr(haproxy, "runtime_command", broken)
    code, result = run_main(module, dict({"socket": "/run/haproxy/admin.sock", "backend": "emqx_mqtt"}, **extra), capsys)
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "unexpected error: runtime API answered garbage to show stat"


def test_servers_state_parsing():
    text = STATE_HEADER + "3 b 1 up1 127.0.0.1 2 0 1 1 3 6 3 1 6 0 0 0 - 18931 - 0 0 - - 0\n" \
                          "3 b 2 down1 127.0.0.1 0 8 1 1 10 8 2 0 6 0 0 0 - 1 - 0 0 - - 0\n" \
                          "3 b 4 off 127.0.0.1 2 4 1 1 0 1 0 2 6 0 0 0 - 1 - 0 0 - - 0\n\n"
    servers = haproxy.parse_servers_state(text)
    assert servers["down1"] == {"op_state": 0, "admin_flags": 8, "uweight": 1, "iweight": 1}
    assert haproxy.admin_state(servers["down1"]["admin_flags"]) == "drain"
    # CMAINT alone (0x04) only says the server was `disabled` in the configuration: it is ready now
    assert haproxy.admin_state(servers["off"]["admin_flags"]) == "ready"
    assert haproxy.admin_state(0x20) == "maint" and haproxy.admin_state(0x10) == "drain"
    with pytest.raises(ValueError):
        haproxy.parse_servers_state("Can't find backend.\n")


def test_a_health_check_in_progress_keeps_the_last_result_readable(monkeypatch):
    """HAProxy prints "* L7OK" while the next check of a server runs: the last result is still L7OK
    (the EMQX roles require an HTTP check, and failed on the asterisk when a check was running)."""
    stat = STAT_HEADER + "emqx_mqtt,blue-1,3,9,UP,1,* L7OK,5\nemqx_mqtt,blue-2,2,4,UP,1,L7OK,5\n\n"
    monkeypatch.setattr(haproxy, "runtime_command", lambda address, command, timeout=5.0: stat)
    servers = {s["name"]: s for s in haproxy.backend_servers("/nowhere", "emqx_mqtt")}
    assert servers["blue-1"]["check_status"] == "L7OK" and servers["blue-1"]["check_in_progress"] is True
    assert servers["blue-2"]["check_status"] == "L7OK" and servers["blue-2"]["check_in_progress"] is False
