"""Ports reserved across processes.

A lab picks its members' ports when it starts, but binds many of them later (green nodes join
mid-test, a restarted member binds again). Checking that a port is free is therefore not
enough once several labs start side by side (pytest-xdist workers, a lab and a load
generator, two labs of one test): each would see the other's unbound ports as free. So every
port handed out is also recorded as a file ``<registry>/<port>``, written
under one lock shared by every process, and holds the owner that gave it out:

- ``dir:<lab workdir>`` for ports of a lab (``labctl up`` sets it); ``labctl down`` releases
  them. A lab whose workdir is gone, or that never saved its state, cannot be using them.
- ``pid:<n>`` for ports taken outside a lab (a test's own server); free again when n is gone.

The registry lives in the system's temporary directory, so every process on the machine
(every worker, every lab) sees the same one; ``ZDT_PORT_REGISTRY`` moves it.
"""
import contextlib
import fcntl
import os
import random
import socket
import tempfile
import time

# An owner that has not saved a lab state this long after taking a port has died in `up`.
_UNSAVED_GRACE_S = 900.0

_owner = None


def registry():
    path = os.environ.get("ZDT_PORT_REGISTRY") or os.path.join(tempfile.gettempdir(), "zdt-lab-ports")
    os.makedirs(path, exist_ok=True)
    return path


def set_owner(workdir):
    """Ports given out by this process from now on belong to the lab in ``workdir``."""
    global _owner  # pylint: disable=global-statement
    _owner = "dir:" + os.path.abspath(workdir)


def _current_owner():
    return _owner or "pid:%d" % os.getpid()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry_path):
    try:
        with open(entry_path) as handle:
            owner = handle.read().strip()
        age = time.time() - os.stat(entry_path).st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: the O_EXCL retry will see it is free
    kind, _sep, value = owner.partition(":")
    if kind == "pid":
        return not value.isdigit() or not _pid_alive(int(value))
    if kind == "dir":
        if not os.path.isdir(value):
            return True
        # labcommon.state keeps DIR/lab.json while the lab exists (not imported: no cycle)
        return not os.path.exists(os.path.join(value, "lab.json")) and age > _UNSAVED_GRACE_S
    return True


@contextlib.contextmanager
def _locked():
    """Claims and releases take one lock on the registry: finding an entry stale and replacing
    it must be one step, or two processes could each reclaim it and both hold the port."""
    with open(os.path.join(registry(), ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _claim(port):
    """Record ``port`` for this process's owner; False if someone holds it."""
    entry = os.path.join(registry(), str(port))
    with _locked():
        if os.path.exists(entry) and not _stale(entry):
            return False
        tmp = "%s.%d.tmp" % (entry, os.getpid())
        with open(tmp, "w") as handle:
            handle.write(_current_owner())
        os.replace(tmp, entry)
    return True


def _bindable(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low, high = (int(v) for v in handle.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def reserve(host="127.0.0.1"):
    """A TCP port free on ``host`` now, below the kernel's ephemeral range, and reserved for
    this process's owner until released.

    Below the ephemeral range, because members are often started long after their port was
    chosen and an ephemeral port could meanwhile be taken by any outgoing connection, such as
    the load generator's thousands of clients."""
    low, _high = ephemeral_range()
    for _attempt in range(500):
        port = random.randint(10000, max(10001, low - 1))
        if not _claim(port):
            continue
        if _bindable(host, port):
            return port
        release_port(port)
    raise RuntimeError("no free port below %d after 500 tries (registry %s)" % (low, registry()))


def release_port(port):
    with _locked():
        _remove(port)


def _remove(port):
    try:
        os.unlink(os.path.join(registry(), str(port)))
    except FileNotFoundError:
        pass


def release(workdir):
    """Give back every port the lab in ``workdir`` holds."""
    owner = "dir:" + os.path.abspath(workdir)
    folder = registry()
    with _locked():
        for name in os.listdir(folder):
            if not name.isdigit():
                continue
            try:
                with open(os.path.join(folder, name)) as handle:
                    if handle.read().strip() != owner:
                        continue
            except FileNotFoundError:
                continue
            _remove(int(name))
