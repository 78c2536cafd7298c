"""Start, watch and stop the lab's local processes.

Processes are detached (own session) so they outlive ``labctl up``; their pids are kept in
the lab state so ``fault`` and ``down`` can find them from another process.
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from labcommon import ports


def free_port(host="127.0.0.1"):
    """A TCP port for a lab member: free now, and reserved across processes until the lab that
    took it goes down (see labcommon.ports for why a bind check alone is not enough)."""
    return ports.reserve(host)


def spawn(name, argv, workdir, env=None, cwd=None):
    """Start ``argv`` detached, logging to DIR/logs/<name>.log; return its pid."""
    logdir = os.path.join(os.path.abspath(workdir), "logs")
    os.makedirs(logdir, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(os.path.join(logdir, "%s.log" % name), "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=cwd or workdir, env=full_env, start_new_session=True, close_fds=True,
        )
    return proc.pid


def python_argv(module, *args):
    """argv that runs ``python -m module`` with this interpreter and the labs on the path."""
    return [sys.executable, "-m", module] + [str(a) for a in args]


def labs_env():
    """Environment so that child processes can import the lab packages."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    current = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": here + (os.pathsep + current if current else "")}


def _zombie(pid):
    """A dead process not yet reaped by its parent still answers kill(0)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Reap it if it is our own child; otherwise a zombie counts as dead.
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    return not _zombie(pid)


def signal_tree(pid, sig):
    """Send ``sig`` to the process group of member ``pid`` (members lead their own, see spawn)."""
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)


def stop(pid, sig=signal.SIGTERM, timeout=10.0):
    """Signal the process group of ``pid`` and wait until it is gone (SIGKILL after timeout)."""
    if not alive(pid):
        return
    try:
        os.killpg(pid, sig)
        os.killpg(pid, signal.SIGCONT)  # a paused member handles its SIGTERM only once it runs again
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        while alive(pid):
            time.sleep(0.05)


def kill9(pid):
    stop(pid, signal.SIGKILL, timeout=5.0)


def log_tail(workdir, name, lines=20):
    """The last ``lines`` lines of member ``name``'s log (DIR/logs/<name>.log), for an error message."""
    try:
        with open(os.path.join(os.path.abspath(workdir), "logs", "%s.log" % name), errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError as exc:
        return "(no log: %s)" % exc


def wait_port(host, port, timeout=30.0, pid=None):
    """Wait until ``host:port`` accepts TCP connections; fail early if ``pid`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise RuntimeError("process %s died before %s:%s opened" % (pid, host, port))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("%s:%s did not open within %.0fs" % (host, port, timeout))
