"""Run lab members as podman containers that look, from the lab's side, like local processes.

Every container uses the host network, so members listen on and reach the same loopback
addresses as in process mode. The lab code (tests/labs) is bind-mounted read-only and the lab
workdir read-write, both at their host paths, so argv, config paths and DIR/logs/<name>.log are
identical in both modes. The image is built by tests/labs/images/build.sh.

Containers are named ``zdt-<workdir hash>-<member>`` (labs in different workdirs can run side
by side) and labelled ``zdt.workdir=<workdir>`` so that ``remove_all`` finds every one a lab
started, even members its state file no longer mentions.
"""
import hashlib
import math
import os
import re
import subprocess
import sys

IMAGE = "localhost/zdt-lab:latest"
BUILD_SCRIPT = "tests/labs/images/build.sh"
LABS_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
IMAGE_PYTHON = "/usr/bin/python3"
WORKDIR_LABEL = "zdt.workdir"
MEMBER_LABEL = "zdt.member"

# The member's output goes to the same log file as in process mode, appended like procs.spawn.
_LOG_WRAPPER = 'log="$1"; shift; exec "$@" >>"$log" 2>&1'
_PYTHON_NAME = re.compile(r"^python(3(\.\d+)*)?$")


class PodmanError(RuntimeError):
    pass


class ImageMissing(PodmanError):
    pass


def _podman(*args, timeout=60.0, check=True):
    try:
        proc = subprocess.run(
            ["podman"] + [str(a) for a in args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
        )
    except FileNotFoundError:
        raise PodmanError("podman is not installed; container mode needs it (apt-get install podman runc)")
    if check and proc.returncode != 0:
        raise PodmanError("podman %s failed (%s): %s" % (" ".join(map(str, args[:2])), proc.returncode, proc.stderr.strip()))
    return proc


def available():
    """True when the podman command exists on this machine."""
    try:
        _podman("--version", timeout=30)
    except PodmanError:
        return False
    return True


def image_ready():
    """True when the lab image has been built."""
    try:
        return _podman("image", "exists", IMAGE, timeout=30, check=False).returncode == 0
    except PodmanError:
        return False


def require_image():
    if not image_ready():
        raise ImageMissing("container image %s is missing: run %s (as root) first" % (IMAGE, BUILD_SCRIPT))


def container_name(name, workdir):
    """Name of member ``name``'s container; unique per workdir so labs can run side by side."""
    digest = hashlib.sha256(os.path.abspath(workdir).encode()).hexdigest()[:10]
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "_", name)
    return "zdt-%s-%s" % (digest, safe)


def image_argv(argv):
    """argv as it must run inside the image.

    Process mode starts Python members with the host interpreter (usually a virtualenv, see
    procs.python_argv); that path does not exist in the image, whose libraries come from Debian
    packages for /usr/bin/python3. Any Python interpreter path is therefore mapped to it,
    including one recorded in a state file by another labctl run with a different interpreter.
    """
    argv = [str(a) for a in argv]
    if argv and (argv[0] == sys.executable or _PYTHON_NAME.match(os.path.basename(argv[0]))):
        argv[0] = IMAGE_PYTHON
    return argv


def run(name, argv, workdir, env=None):
    """Start member ``name`` running ``argv`` in a fresh container; return the container name.

    A container left over under the same name (stopped, killed, or from a crashed run) is
    replaced, which is what restarting a member after a fault needs.
    """
    require_image()
    workdir = os.path.abspath(workdir)
    logdir = os.path.join(workdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    cname = container_name(name, workdir)
    full_env = {"PYTHONPATH": LABS_DIR}
    full_env.update(env or {})

    log = os.path.join(logdir, "%s.log" % name)
    # Created here, as procs.spawn does, so the log exists as soon as run() returns.
    open(log, "ab").close()

    _podman("rm", "--force", "--ignore", "--time", 0, cname, timeout=60)
    cmd = [
        "run", "--detach", "--pull=never", "--init", "--network", "host",
        "--name", cname,
        "--label", "%s=%s" % (WORKDIR_LABEL, workdir),
        "--label", "%s=%s" % (MEMBER_LABEL, name),
        "--volume", "%s:%s:ro" % (LABS_DIR, LABS_DIR),
        "--volume", "%s:%s:rw" % (workdir, workdir),
        "--workdir", workdir,
    ]
    for key, value in sorted(full_env.items()):
        cmd += ["--env", "%s=%s" % (key, value)]
    cmd += [IMAGE, "/bin/sh", "-c", _LOG_WRAPPER, "sh", log]
    cmd += image_argv(argv)
    _podman(*cmd, timeout=120)
    return cname


def alive(cname):
    """True while the container's main process runs (False once it exited or was removed)."""
    if not cname:
        return False
    proc = _podman("container", "inspect", "--format", "{{.State.Running}}", cname, timeout=30, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _wait_exited(cname, timeout):
    # podman kill only sends the signal; wait until the runtime has seen the container die so
    # that alive() is False as soon as kill() returns, as with kill -9 of a process.
    try:
        _podman("wait", cname, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise PodmanError("container %s still running %.0fs after SIGKILL" % (cname, timeout))


def _forget(cname):
    # A stopped member's container is of no further use: its output is in DIR/logs and its
    # handle is enough to start it again. Removing it keeps ``down`` from leaving any behind.
    _podman("rm", "--force", "--ignore", "--time", 0, cname, timeout=60, check=False)


def stop(cname, timeout=10.0):
    """Graceful stop: SIGTERM to the member, SIGKILL after ``timeout`` seconds. Returns when gone."""
    if not cname:
        return
    if alive(cname):
        seconds = max(0, int(math.ceil(timeout)))
        _podman("stop", "--time", seconds, cname, timeout=seconds + 60, check=False)
        if alive(cname):
            _podman("kill", "--signal", "KILL", cname, timeout=30, check=False)
            _wait_exited(cname, timeout=30)
    _forget(cname)


def kill(cname):
    """Abrupt death, like kill -9: every process of the container gets SIGKILL, nothing cleans up."""
    if not cname:
        return
    if alive(cname):
        _podman("kill", "--signal", "KILL", cname, timeout=30, check=False)
        _wait_exited(cname, timeout=30)
    _forget(cname)


def list_for(workdir):
    """Names of every container (running or not) started for ``workdir``."""
    proc = _podman(
        "ps", "--all", "--filter", "label=%s=%s" % (WORKDIR_LABEL, os.path.abspath(workdir)),
        "--format", "{{.Names}}", timeout=30,
    )
    return sorted(line for line in proc.stdout.split() if line)


def remove_all(workdir):
    """Kill and delete every container of ``workdir`` (strays included); return their names.

    Graceful shutdown is runner.stop's job; this is the final sweep of ``labctl down``.
    """
    try:
        names = list_for(workdir)
    except PodmanError:
        if not available():
            return []
        raise
    if names:
        _podman("rm", "--force", "--ignore", "--time", 0, *names, timeout=120)
    return names
