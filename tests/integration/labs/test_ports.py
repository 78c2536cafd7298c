"""Ports reserved across processes: labs started side by side (pytest-xdist workers, two labs of
one test, Molecule scenarios in parallel) never draw the same port, even for members that bind
long after their port was chosen."""
import multiprocessing
import os
import signal
import subprocess
import sys

import pytest

from labcommon import ports  # pylint: disable=import-error


@pytest.fixture
def registry(tmp_path, monkeypatch):
    folder = tmp_path / "ports"
    monkeypatch.setenv("ZDT_PORT_REGISTRY", str(folder))
    monkeypatch.setattr(ports, "_owner", None)  # set_owner below must not outlive the test
    return folder


def _reserve_many(args):
    folder, owner_dir, count = args
    os.environ["ZDT_PORT_REGISTRY"] = folder
    ports.set_owner(owner_dir)
    # the ports are only recorded, never bound: exactly the case a bind check alone misses
    return [ports.reserve() for _unused in range(count)]


def test_parallel_processes_never_share_a_port(registry, tmp_path, monkeypatch):
    # Squeeze the range so that collisions would be certain without the registry.
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (10000 + 400, 60999))
    owners = [str(tmp_path / ("lab%d" % i)) for i in range(4)]
    for owner in owners:
        os.makedirs(owner)
    # Forked from the pytest worker, the pool's processes inherit the SIGTERM handler an earlier test
    # may have set in it (a load generator run in-process, say): then the pool's terminate() could not
    # stop them and its join() waited for ever. They get the default back, and the map a deadline.
    with multiprocessing.get_context("fork").Pool(4, initializer=signal.signal, initargs=(signal.SIGTERM, signal.SIG_DFL)) as pool:
        results = pool.map_async(_reserve_many, [(str(registry), owner, 80) for owner in owners]).get(timeout=120)
    given = [port for result in results for port in result]
    assert len(given) == 320
    assert len(set(given)) == 320, "a port was handed to two labs"


def test_down_releases_only_its_own_lab(registry, tmp_path):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    os.makedirs(first)
    os.makedirs(second)
    ports.set_owner(first)
    mine = {ports.reserve() for _unused in range(3)}
    ports.set_owner(second)
    theirs = {ports.reserve() for _unused in range(3)}
    ports.release(first)
    left = {int(name) for name in os.listdir(str(registry)) if name.isdigit()}
    assert left == theirs and not mine & left


def test_ports_of_a_dead_process_or_a_removed_lab_are_reclaimed(registry, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (registry).mkdir(parents=True, exist_ok=True)
    (registry / "20001").write_text("pid:%s" % dead)
    (registry / "20002").write_text("dir:%s" % (tmp_path / "no-such-lab"))
    live = tmp_path / "live-lab"
    live.mkdir()
    (live / "lab.json").write_text("{}")
    (registry / "20003").write_text("dir:%s" % live)
    assert ports._claim(20001) and ports._claim(20002)  # pylint: disable=protected-access
    assert not ports._claim(20003), "a running lab keeps its port"  # pylint: disable=protected-access


def test_a_port_someone_else_listens_on_is_never_given(registry, monkeypatch):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        real_randint = ports.random.randint
        draws = iter([taken])
        # The first draw is the busy port; after it, ordinary draws. A fixed second port
        # could itself be taken by a lab in another worker.
        monkeypatch.setattr(ports.random, "randint", lambda low, high: next(draws, None) or real_randint(10000, 30000))
        monkeypatch.setattr(ports, "ephemeral_range", lambda: (65535, 65535))
        port = ports.reserve()
    assert port != taken
    assert not (registry / str(taken)).exists(), "the busy port's reservation was given back"
