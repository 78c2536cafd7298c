"""kilda_zk_info and kilda_zk_signal against secured ensembles and an ensemble without quorum:
a Kilda chroot protected by a digest ACL, TLS with client certificates, and read-only mode.

Each kind of ensemble is started once per module; the digest tests reuse the session's plain
ensemble (digest auth needs no server setting)."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from kazoo.exceptions import NoAuthError

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection
from kildatest import BIN, ROOT, Lab, ansible_env, values, zk_client

sys.path.insert(0, os.path.join(ROOT, "tests", "labs"))
from labcommon import pki  # noqa: E402

pytestmark = pytest.mark.timeout(150)

USER, PASSWORD = "kilda-ops", "Zk-Digest-9f3b7c"
WRONG_PASSWORD = "Not-The-Password-41"
FLOODLIGHT_1 = {"component": "floodlight", "env": "1"}
NETWORK = {"component": "network", "env": "blue"}


def run(name, args, env=None, timeout=120):
    """Run zerodowntime.cluster.<name> with -vvv; return (result, everything Ansible printed)."""
    argv = [os.path.join(BIN, "ansible"), "localhost", "-c", "local", "-vvv", "-m", "zerodowntime.cluster.%s" % name,
            "-a", json.dumps(args)]
    full_env = ansible_env()
    full_env.update(ANSIBLE_STDOUT_CALLBACK="minimal")
    full_env.update(env or {})
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    printed = proc.stdout + proc.stderr
    start = proc.stdout.find("localhost | ")
    if start < 0:
        raise AssertionError("ansible printed no result (rc %s):\n%s" % (proc.returncode, printed[-3000:]))
    brace = proc.stdout.index("{", start)
    result, dummy = json.JSONDecoder().raw_decode(proc.stdout[brace:])
    # The minimal callback states the outcome in its header ("localhost | FAILED! => {...}").
    result["failed"] = proc.stdout[start:brace].split("|", 1)[1].strip().startswith("FAILED")
    return result, printed


def stats(client, prefix, items, child="signal"):
    """{id: (value, mzxid)}: the zxid shows whether a node was written at all."""
    out = {}
    for item in items:
        data, stat = client.get("%s/%s/%s/%s" % (prefix, item["component"], item["env"], child))
        out["%s/%s" % (item["component"], item["env"])] = (data.decode(), stat.mzxid)
    return out


# --- digest authentication and ACLs ----------------------------------------------------------

@pytest.fixture(scope="module")
def protected(ensemble):
    """Blue topologies and Floodlight 1 under a chroot that only USER may see or change."""
    prefix = "/kilda_secured_digest"
    lab = Lab("kilda", "--zk", ensemble.description["hosts"], "--prefix", prefix, "--env", "blue", "--regions", "1",
              "--no-services", "--bootstrap", "--zk-auth", "%s:%s" % (USER, PASSWORD))
    client = zk_client(ensemble.description["hosts"])
    client.add_auth("digest", "%s:%s" % (USER, PASSWORD))
    yield {"hosts": ensemble.description["hosts"], "prefix": prefix, "client": client}
    client.stop()
    client.close()
    lab.down()


def test_the_lab_chroot_is_closed_to_anyone_without_the_digest(protected):
    anonymous = zk_client(protected["hosts"])
    try:
        with pytest.raises(NoAuthError):
            anonymous.get_children(protected["prefix"])
    finally:
        anonymous.stop()
        anonymous.close()
    acl = protected["client"].get_acls(protected["prefix"] + "/network/blue/signal")[0]
    assert [(a.id.scheme, a.id.id.split(":")[0]) for a in acl] == [("digest", USER)]


@pytest.mark.slow
def test_right_credentials_read_and_flip_with_wait_and_never_print_the_password(protected):
    base = {"hosts": protected["hosts"], "prefix": protected["prefix"]}
    info, printed = run("kilda_zk_info", dict(base, env="blue", regions=["1"], username=USER, password=PASSWORD))
    assert not info.get("failed"), info.get("msg")
    assert info["verdict"]["consistent"], info["verdict"]["problems"]
    assert info["invocation"]["module_args"]["username"] == USER  # -vvv shows the arguments...
    assert PASSWORD not in printed  # ...but never the password

    # Credentials from the environment, the way AWX credential types inject them.
    env = {"KILDA_ZK_USERNAME": USER, "KILDA_ZK_PASSWORD": PASSWORD}
    items = [NETWORK, FLOODLIGHT_1]
    for flip, want in (("SHUTDOWN", "0"), ("START", None)):
        result, printed = run("kilda_zk_signal", dict(base, targets=items, signal=flip, wait_timeout=60,
                                                      poll_interval=0.2), env=env)
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] and sorted(result["waited_for"]) == ["floodlight/1", "network/blue"]
        assert PASSWORD not in printed
        for item in items:
            now = values(protected["client"], protected["prefix"], item["component"], item["env"])
            assert now["signal"] == flip
            assert now["state"] == (want or now["expected_state"]), (item, now)


@pytest.mark.slow
@pytest.mark.parametrize("password", [WRONG_PASSWORD, None], ids=["wrong-password", "no-credentials"])
def test_wrong_or_missing_credentials_fail_with_noauth_and_change_nothing(protected, password):
    base = {"hosts": protected["hosts"], "prefix": protected["prefix"], "connect_timeout": 5}
    if password:
        base.update(username=USER, password=password)
    before = stats(protected["client"], protected["prefix"], [NETWORK, FLOODLIGHT_1])

    info, printed = run("kilda_zk_info", dict(base, env="blue"))
    assert info.get("failed") and "NoAuth" in info["msg"], info
    assert ("user %r" % USER if password else "no credentials were given") in info["msg"]

    flip, flip_printed = run("kilda_zk_signal", dict(base, targets=[NETWORK, FLOODLIGHT_1], signal="SHUTDOWN"))
    assert flip.get("failed") and "NoAuth" in flip["msg"], flip
    assert stats(protected["client"], protected["prefix"], [NETWORK, FLOODLIGHT_1]) == before
    if password:
        assert password not in printed + flip_printed and PASSWORD not in printed + flip_printed


@pytest.mark.slow
def test_nodes_created_under_a_protected_chroot_keep_its_acl(protected):
    """Pre-setting green (create_missing) must not leave world-readable nodes behind."""
    args = {"hosts": protected["hosts"], "prefix": protected["prefix"], "username": USER, "password": PASSWORD,
            "targets": [{"component": "network", "env": "green"}], "signal": "SHUTDOWN",
            "build_version": "green-1", "create_missing": True}
    result, dummy = run("kilda_zk_signal", args)
    assert not result.get("failed"), result.get("msg")
    assert result["targets"][0]["created"]
    chroot_acl = protected["client"].get_acls(protected["prefix"])[0]
    for path in ("/network/green", "/network/green/signal", "/network/green/build-version"):
        assert protected["client"].get_acls(protected["prefix"] + path)[0] == chroot_acl, path
    anonymous = zk_client(protected["hosts"])
    try:
        with pytest.raises(NoAuthError):
            anonymous.get(protected["prefix"] + "/network/green/build-version")
    finally:
        anonymous.stop()
        anonymous.close()


# --- TLS ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory):
    """One server with a TLS port that requires client certificates, and Floodlight 1 running."""
    zookeeper = Lab("zookeeper", "--servers", "1", "--tls", "--tls-client-auth", "need")
    kilda = None
    try:
        kilda = Lab("kilda", "--zk", zookeeper.description["hosts"], "--env", "blue", "--regions", "1",
                    "--no-topologies", "--no-services", "--bootstrap")
        stranger = pki.make_ca(str(tmp_path_factory.mktemp("stranger")), "stranger")
        yield dict(zookeeper.description, stranger_ca=stranger[0])
    finally:
        if kilda is not None:
            kilda.down()
        zookeeper.down()


def tls_args(lab, **extra):
    out = {"hosts": lab["tls_hosts"], "use_tls": True, "ca_path": lab["ca_cert"], "client_cert": lab["client_cert"],
           "client_key": lab["client_key"], "connect_timeout": 5}
    out.update(extra)
    return out


@pytest.mark.slow
def test_tls_with_the_lab_ca_and_a_client_certificate_reads_and_writes(tls_lab):
    assert tls_lab["tls_hosts"] != tls_lab["hosts"]
    info, dummy = run("kilda_zk_info", tls_args(tls_lab, env="blue", components=["network"], regions=["1"]))
    assert not info.get("failed"), info.get("msg")
    by_id = {c["id"]: c for c in info["components"]}
    assert by_id["network/blue"]["signal"] == "START"
    assert by_id["floodlight/1"]["state"] == by_id["floodlight/1"]["expected_state"] == "6"

    flip, dummy = run("kilda_zk_signal", tls_args(tls_lab, targets=[FLOODLIGHT_1], signal="SHUTDOWN",
                                                  wait_timeout=60, poll_interval=0.2))
    assert not flip.get("failed"), flip.get("msg")
    plain = zk_client(tls_lab["hosts"])
    try:
        assert values(plain, "/kilda", "floodlight", "1")["state"] == "0"
    finally:
        plain.stop()
        plain.close()


@pytest.mark.slow
def test_tls_with_a_ca_that_did_not_sign_the_server_fails_on_the_certificate(tls_lab):
    result, dummy = run("kilda_zk_info", tls_args(tls_lab, env="blue", ca_path=tls_lab["stranger_ca"]))
    assert result.get("failed") and result["error"] == "TLSError", result
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"] and tls_lab["stranger_ca"] in result["msg"]


def hung_server():
    """A server that accepts TCP connections (the kernel does) but never answers a TLS hello."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


@pytest.mark.slow
def test_a_hung_server_neither_delays_nor_hides_a_certificate_error(tls_lab):
    with hung_server() as hung:
        hosts = "127.0.0.1:%d,%s" % (hung.getsockname()[1], tls_lab["tls_hosts"])
        good, dummy = run("kilda_zk_info", tls_args(tls_lab, hosts=hosts, env="blue", regions=["1"]))
        started = time.monotonic()
        bad, dummy = run("kilda_zk_info", tls_args(tls_lab, hosts=hosts, env="blue", ca_path=tls_lab["stranger_ca"],
                                                   connect_timeout=90))
        took = time.monotonic() - started
    assert not good.get("failed"), good.get("msg")
    assert bad.get("failed") and bad["error"] == "TLSError", bad
    assert "CERTIFICATE_VERIFY_FAILED" in bad["msg"]
    # The servers are probed at once: the hung one costs the probe's 3 s, and the certificate
    # error is reported then instead of after connect_timeout. The run's own start-up is part of
    # the time (21 s on a loaded machine), so the bound is half of connect_timeout, not the 3 s.
    assert took < 45, took


@pytest.mark.slow
def test_tls_without_a_client_certificate_is_refused_by_the_server(tls_lab):
    args = tls_args(tls_lab, env="blue")
    del args["client_cert"], args["client_key"]
    result, dummy = run("kilda_zk_info", args)
    assert result.get("failed") and result["error"] == "TLSError", result
    assert "client certificate" in result["msg"] and "client_cert" in result["msg"]


class ZooKeeper349:
    """What a ZooKeeper 3.4.9 client port (Open Kilda's docker/zookeeper image) does with the two
    things the module sends it: ``srvr`` gets the version; anything else, a TLS hello included,
    reads as a request of absurd length, and the server closes the connection."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, dummy = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    if conn.recv(4) == b"srvr":
                        conn.sendall(b"Zookeeper version: 3.4.9-1757313, built on 08/23/2016 06:50 GMT\n"
                                     b"Latency min/avg/max: 0/0/0\nReceived: 1\nSent: 0\nConnections: 1\n"
                                     b"Outstanding: 0\nZxid: 0x0\nMode: standalone\nNode count: 4\n")
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def test_tls_against_a_server_too_old_for_it_is_refused_naming_the_version():
    server = ZooKeeper349()
    params = dict(hosts="127.0.0.1:%d" % server.port, use_tls=True, validate_certs=False, connect_timeout=10,
                  session_timeout=10, prefix="/kilda")
    started = time.monotonic()
    try:
        with pytest.raises(ZdtError) as failure:
            connection.connect(params)
    finally:
        server.close()
    msg = str(failure.value)
    assert failure.value.details["error"] == "TLSUnsupported", failure.value.details
    assert "ZooKeeper 3.4.9 at 127.0.0.1:%d cannot serve TLS: TLS needs ZooKeeper 3.5.5 or later" % server.port in msg, msg
    assert "use_tls: false" in msg
    assert time.monotonic() - started < 20  # refused at once, not after connect_timeout


# --- read-only mode (no quorum) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def readonly_lab():
    zookeeper = Lab("zookeeper", "--servers", "3", "--readonly")
    kilda = None
    try:
        kilda = Lab("kilda", "--zk", zookeeper.description["hosts"], "--env", "blue", "--regions", "1",
                    "--no-services", "--bootstrap")
        yield zookeeper
    finally:
        if kilda is not None:
            kilda.down()
        zookeeper.down()


@pytest.mark.slow
def test_without_quorum_info_reads_read_only_and_a_flip_fails_without_writing(readonly_lab):
    hosts = readonly_lab.description["hosts"]
    items = [NETWORK, FLOODLIGHT_1]
    client = zk_client(hosts)
    before = stats(client, "/kilda", items)
    client.stop()
    client.close()

    stopped = [s["name"] for s in readonly_lab.description["servers"]][:2]
    for name in stopped:
        readonly_lab.fault("stop", name)
    try:
        info, printed = run("kilda_zk_info", {"hosts": hosts, "env": "blue", "regions": ["1"], "read_only": True})
        assert not info.get("failed"), info.get("msg")
        assert info["read_only_server"] is True
        assert "server without quorum (read-only mode)" in printed
        assert info["verdict"]["consistent"], info["verdict"]["problems"]
        by_id = {c["id"]: c for c in info["components"]}
        assert by_id["network/blue"]["signal"] == "START" and by_id["network/blue"]["state"] == "3"

        flip, dummy = run("kilda_zk_signal", {"hosts": hosts, "targets": items, "signal": "SHUTDOWN",
                                              "connect_timeout": 4, "wait_timeout": 30})
        assert flip.get("failed") and flip["error"] == "NoQuorum", flip
        assert "no quorum" in flip["msg"]
    finally:
        for name in stopped:
            readonly_lab.fault("start", name)
    client = zk_client(hosts)
    try:
        assert stats(client, "/kilda", items) == before  # nothing was queued and applied later
    finally:
        client.stop()
        client.close()
