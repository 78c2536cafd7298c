"""Container mode of the labs: a member started with containers=True behaves like a process.

Needs Docker or podman (through its Docker API service, which the lab starts) and the lab image
(``make images`` / tests/labs/images/build.sh). Only a machine with neither engine skips these
tests; a missing image is a failure, with the command that fixes it.
"""
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import warnings

import pytest

from labcommon import containers, procs, runner

NO_PODMAN = "NEITHER DOCKER NOR PODMAN IS INSTALLED: the container mode of the labs (Molecule's mode) is NOT tested here"

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def podman():
    if not containers.available():
        warnings.warn(NO_PODMAN)
        pytest.skip(NO_PODMAN)
    containers.require_image()


@pytest.fixture
def workdir(podman, tmp_path):
    yield str(tmp_path)
    containers.remove_all(str(tmp_path))


def _serve(workdir, port):
    # sys.executable on purpose: labs pass the host interpreter, container mode must swap it.
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", workdir, str(port)]
    return runner.start("web", argv, workdir, containers=True)


def _get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, path), timeout=5) as resp:
        return resp.read().decode()


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _wait_dead(handle, timeout=20.0):
    deadline = time.monotonic() + timeout
    while runner.alive(handle) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not runner.alive(handle)


def _log(workdir, name):
    with open(os.path.join(workdir, "logs", "%s.log" % name)) as handle:
        return handle.read()


@pytest.mark.slow
def test_member_is_reachable_on_loopback_and_survives_kill_restart_stop(workdir):
    with open(os.path.join(workdir, "hello.txt"), "w") as handle:
        handle.write("from the host workdir")
    port = procs.free_port()

    handle = _serve(workdir, port)
    assert handle["mode"] == "container"
    procs.wait_port("127.0.0.1", port, timeout=20)
    # The workdir is the same path inside, read-write: the member serves the host's file.
    assert _get(port, "hello.txt") == "from the host workdir"
    assert runner.alive(handle)

    runner.kill(handle)
    assert not runner.alive(handle)
    assert _refused(port)

    handle = runner.restart(handle, workdir)
    procs.wait_port("127.0.0.1", port, timeout=20)
    assert _get(port, "hello.txt") == "from the host workdir"

    # SIGTERM must reach a member that sets no handler (http.server): it dies at once instead
    # of waiting out the timeout for SIGKILL.
    started = time.monotonic()
    runner.stop(handle, timeout=10)
    assert time.monotonic() - started < 8
    assert not runner.alive(handle)
    assert _refused(port)
    # Same log file as process mode, appended across restarts.
    assert _log(workdir, "web").count("GET /hello.txt") == 2
    # A lab that stops its members leaves no container behind.
    assert containers.list_for(workdir) == []


def test_member_runs_in_the_image_with_the_labs_importable(workdir):
    probe = (
        "import os, sys, labcommon.procs; "
        "print('python', sys.executable); "
        "print('container', os.path.exists('/run/.containerenv')); "
        "print('labs', os.path.dirname(os.path.dirname(labcommon.procs.__file__))); "
        "print('env', os.environ.get('ZDT_PROBE'))"
    )
    handle = runner.start("probe", [sys.executable, "-c", probe], workdir, env={"ZDT_PROBE": "passed"}, containers=True)
    assert _wait_dead(handle)
    lines = _log(workdir, "probe").splitlines()
    assert "python /usr/bin/python3" in lines
    assert "container True" in lines
    assert "labs %s" % containers.LABS_DIR in lines
    assert "env passed" in lines


def test_stop_lets_the_member_shut_down_but_kill_does_not(workdir):
    member = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('clean shutdown', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    handle = runner.start("graceful", [sys.executable, "-c", member], workdir, containers=True)
    deadline = time.monotonic() + 20
    while "ready" not in _log(workdir, "graceful") and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.stop(handle, timeout=10)
    assert _log(workdir, "graceful").count("clean shutdown") == 1

    handle = runner.restart(handle, workdir)
    deadline = time.monotonic() + 20
    while _log(workdir, "graceful").count("ready") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.kill(handle)
    assert not runner.alive(handle)
    assert _log(workdir, "graceful").count("clean shutdown") == 1


@pytest.mark.slow
def test_labs_in_two_workdirs_do_not_share_containers(workdir, tmp_path_factory):
    other = str(tmp_path_factory.mktemp("other-lab"))
    try:
        ports = [procs.free_port(), procs.free_port()]
        first = _serve(workdir, ports[0])
        second = _serve(other, ports[1])
        assert first["container"] != second["container"]
        for port in ports:
            procs.wait_port("127.0.0.1", port, timeout=20)

        assert containers.remove_all(workdir) == [first["container"]]
        assert not runner.alive(first)
        assert runner.alive(second)
        assert _get(ports[1], "") != ""
    finally:
        containers.remove_all(other)


def test_missing_image_names_the_build_script(podman, tmp_path, monkeypatch):
    monkeypatch.setattr(containers, "IMAGE", "localhost/zdt-lab:no-such-tag")
    with pytest.raises(containers.ImageMissing, match="tests/labs/images/build.sh"):
        runner.start("web", ["python3", "-V"], str(tmp_path), containers=True)


def _image_tool(name):
    # build.sh's helpers are scripts beside the Containerfile, not a package.
    path = os.path.join(containers.LABS_DIR, "images", "%s.py" % name)
    spec = importlib.util.spec_from_file_location("zdt_images_%s" % name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_takes_the_debian_mirror_from_the_hosts_apt_sources(tmp_path):
    apt_mirror = _image_tool("apt_mirror")
    sources = tmp_path / "etc" / "apt" / "sources.list.d"
    sources.mkdir(parents=True)
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb deb-src\n# comment\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\n"
    )
    (sources / "other.list.disabled").write_text("deb http://elsewhere.invalid/debian bookworm main\n")
    assert apt_mirror.choose(apt_mirror.entries(str(tmp_path)), "bookworm") == "http://mirror.invalid/debian"

    (sources / "debian.sources").unlink()
    (tmp_path / "etc" / "apt" / "sources.list").write_text(
        "deb [signed-by=/k.gpg] https://one.invalid/debian trixie main # newer host\n"
        "deb http://two.invalid/debian-security trixie-security main\n"
    )
    # A host on another release still names a mirror that serves bookworm.
    assert apt_mirror.choose(apt_mirror.entries(str(tmp_path)), "bookworm") == "https://one.invalid/debian"
    assert apt_mirror.main(["bookworm", "--root", str(tmp_path / "nothing")]) == 1


def test_containers_conf_gets_the_lab_settings_and_keeps_the_others(tmp_path):
    conf = _image_tool("containers_conf")
    path = tmp_path / "containers.conf"
    path.write_text(
        "# site settings\n[containers]\nlog_size_max = 100\ndefault_ulimits = [\n  \"nofile=1024:2048\",\n]\n\n"
        "[engine]\nruntime = \"crun\"\n\n[engine.runtimes]\nrunc = [\"/usr/sbin/runc\"]\n"
    )
    assert conf.main([str(path)]) == 0
    parsed = tomllib.loads(path.read_text())
    assert parsed["containers"] == {"log_size_max": 100, "default_ulimits": []}
    assert parsed["engine"]["runtime"] == "runc"
    assert parsed["engine"]["cgroup_manager"] == "cgroupfs"
    assert parsed["engine"]["runtimes"] == {"runc": ["/usr/sbin/runc"]}
    assert path.read_text().startswith("# site settings\n")

    first = path.read_text()
    assert conf.main([str(path)]) == 0
    assert path.read_text() == first

    missing = tmp_path / "new" / "containers.conf"
    assert conf.main([str(missing)]) == 0
    assert conf.satisfied(tomllib.loads(missing.read_text()))


def _engine_calls(monkeypatch):
    """Every command the container layer runs from now on (it talks to the engine over its API)."""
    calls = []
    real_popen = subprocess.Popen

    def popen(argv, *args, **kwargs):
        calls.append([str(a) for a in argv])
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(containers, "_CLIENT", {})
    return calls


def _lifecycle(workdir):
    port = procs.free_port()
    handle = _serve(workdir, port)
    procs.wait_port("127.0.0.1", port, timeout=20)
    runner.kill(handle)
    handle = runner.restart(handle, workdir)
    procs.wait_port("127.0.0.1", port, timeout=20)
    runner.stop(handle, timeout=10)
    assert containers.list_for(workdir) == []


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_with_podman_the_only_command_run_is_its_api_service(workdir, monkeypatch, tmp_path_factory):
    """A fresh socket directory: the layer must start podman's API service, and then run nothing but
    API calls (start, kill, restart, stop, list) - no podman command of its own."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(containers, "DOCKER_SOCKET", str(tmp_path_factory.mktemp("nodocker") / "docker.sock"))
    runtime = tmp_path_factory.mktemp("runtime")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    calls = _engine_calls(monkeypatch)
    try:
        _lifecycle(workdir)
        ran = list(calls)
    finally:
        monkeypatch.undo()
        subprocess.run(["pkill", "-f", "podman system service --time=%d unix://%s" % (containers.SERVICE_IDLE, runtime)], check=False)
    assert len(ran) == 1 and ran[0][:3] == ["podman", "system", "service"], ran


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_an_engine_named_by_docker_host_is_used_as_docker_would_be(workdir, monkeypatch):
    """Where Docker runs, DOCKER_HOST (or /var/run/docker.sock) names the engine: the layer starts no
    service and runs no command. Here podman's service stands in for dockerd behind DOCKER_HOST."""
    containers.client()  # the service this machine's labs use
    socket_path = os.path.join(containers._service_dir(), "podman.sock")  # pylint: disable=protected-access
    monkeypatch.setenv("DOCKER_HOST", "unix://" + socket_path)
    calls = _engine_calls(monkeypatch)
    _lifecycle(workdir)
    assert calls == [], calls
