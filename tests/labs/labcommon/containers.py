"""Run lab members as containers that look, from the lab's side, like local processes.

The containers are driven through the Docker Engine API with the ``docker`` library, so one code
path serves both engines: Docker where ``DOCKER_HOST`` names it or ``/var/run/docker.sock``
answers, otherwise podman's Docker-compatible API service, which this module starts itself
(``podman system service`` on a socket of its own, the one podman command it runs) and which exits
by itself once no client has used it for ``SERVICE_IDLE`` seconds. Containers outlive the service:
podman's conmon supervises them, as dockerd does Docker's.

Every container uses the host network, so members listen on and reach the same loopback
addresses as in process mode. The lab code (tests/labs) is bind-mounted read-only and the lab
workdir read-write, both at their host paths, so argv, config paths and DIR/logs/<name>.log are
identical in both modes. The image is built by tests/labs/images/build.sh.

Containers are named ``zdt-<workdir hash>-<member>`` (labs in different workdirs can run side
by side) and labelled ``zdt.workdir=<workdir>`` so that ``remove_all`` finds every one a lab
started, even members its state file no longer mentions.
"""
import contextlib
import fcntl
import hashlib
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

try:
    import docker
    import docker.errors
    import docker.types
except ImportError:  # the labs' process mode does without it
    docker = None

IMAGE = "localhost/zdt-lab:latest"
BUILD_SCRIPT = "tests/labs/images/build.sh"
LABS_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
IMAGE_PYTHON = "/usr/bin/python3"
WORKDIR_LABEL = "zdt.workdir"
MEMBER_LABEL = "zdt.member"
DOCKER_SOCKET = "/var/run/docker.sock"
MARK = ".containers"  # in a workdir where a member ever ran as a container
# Long enough that the calls of one test or one Molecule step share a service, short enough that
# nothing is left running for long after the last lab went down.
SERVICE_IDLE = 120
API_TIMEOUT = 120

# The member's output goes to the same log file as in process mode, appended like procs.spawn.
_LOG_WRAPPER = 'log="$1"; shift; exec "$@" >>"$log" 2>&1'
_PYTHON_NAME = re.compile(r"^python(3(\.\d+)*)?$")
_CLIENT = {}


class ContainerEngineError(RuntimeError):
    pass


class ImageMissing(ContainerEngineError):
    pass


def _service_dir():
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = os.path.join(base, "zdt-podman-%d" % os.getuid())
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _service_socket():
    """The UNIX socket of this user's podman API service (started by _podman_service)."""
    return os.path.join(_service_dir(), "podman.sock")


def _answers(path):
    """True when something accepts connections on the UNIX socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _podman_service():
    """A client of podman's API service on this user's socket, starting the service if none answers.

    A lock file keeps two labs (two pytest workers) from starting it twice."""
    path = _service_socket()
    directory = os.path.dirname(path)
    url = "unix://" + path
    with open(os.path.join(directory, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(path):
            return docker.DockerClient(base_url=url, timeout=API_TIMEOUT)
        with open(os.path.join(directory, "service.log"), "ab") as log:
            try:
                subprocess.Popen(  # pylint: disable=consider-using-with
                    ["podman", "system", "service", "--time=%d" % SERVICE_IDLE, url],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            except FileNotFoundError:
                raise ContainerEngineError("neither Docker nor podman is installed; container mode needs one of them "
                                           "(apt-get install podman runc, or DOCKER_HOST naming a Docker engine)")
        deadline = time.monotonic() + 30
        while not _answers(path):
            if time.monotonic() > deadline:
                raise ContainerEngineError("podman's API service did not answer on %s within 30 s; see %s/service.log" % (url, directory))
            time.sleep(0.1)
    return docker.DockerClient(base_url=url, timeout=API_TIMEOUT)


def client():
    """The Docker API client of this process (Docker's engine, or podman's service)."""
    if docker is None:
        raise ContainerEngineError("the docker Python library is missing: container mode needs it (pip install docker)")
    # podman's service exits after SERVICE_IDLE seconds without a client: a process that keeps its client
    # longer (a pytest worker) must find the service still there, or start it again. The probe itself
    # counts as use, so the service cannot time out between it and the call that follows.
    if _CLIENT.get("service") and not _answers(_CLIENT["service"]):
        _CLIENT.clear()
    if "engine" not in _CLIENT:
        if os.environ.get("DOCKER_HOST"):
            _CLIENT["engine"] = docker.from_env(timeout=API_TIMEOUT)
        elif _answers(DOCKER_SOCKET):
            _CLIENT["engine"] = docker.DockerClient(base_url="unix://" + DOCKER_SOCKET, timeout=API_TIMEOUT)
        else:
            _CLIENT["engine"] = _podman_service()
            _CLIENT["service"] = _service_socket()
    return _CLIENT["engine"]


def _container(cname):
    try:
        return client().containers.get(cname)
    except docker.errors.NotFound:
        return None


def pid_of(cname):
    """The host pid of a running member's first process: its network namespace is /proc/PID/ns/net."""
    member = _container(cname)
    pid = (member.attrs.get("State") or {}).get("Pid") if member is not None else None
    if not pid:
        raise ContainerEngineError("%s is not running" % cname)
    return pid


def available():
    """True when a container engine answers here (Docker, or podman's service started on demand)."""
    try:
        client()
    except ContainerEngineError:
        return False
    return True


def image_ready():
    """True when the lab image has been built."""
    try:
        client().images.get(IMAGE)
    except (ContainerEngineError, docker.errors.ImageNotFound):
        return False
    return True


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


def run(name, argv, workdir, env=None, network=None, address=None):
    """Start member ``name`` running ``argv`` in a fresh container; return the container name.

    On the host network unless ``network`` (a lab network, see ``create_network``) is given, then
    at ``address`` on it. A container left over under the same name (stopped, killed, or from a
    crashed run) is replaced, which is what restarting a member after a fault needs.
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

    # remove_all looks for containers only in a workdir that has this mark (a process-mode lab's
    # ``down`` does not start podman's service to learn it has none)
    open(os.path.join(workdir, MARK), "ab").close()
    _forget(cname)
    # create, not run: run would pull an image it cannot find, and no registry is reachable here
    where = {"network_mode": "host"} if network is None else {
        "network": network, "networking_config": {network: client().api.create_endpoint_config(
            ipv4_address=address, mac_address=mac_of(address))}}
    member = client().containers.create(
        IMAGE, ["/bin/sh", "-c", _LOG_WRAPPER, "sh", log] + image_argv(argv),
        detach=True, init=True, name=cname, **where,
        labels={WORKDIR_LABEL: workdir, MEMBER_LABEL: name},
        volumes={LABS_DIR: {"bind": LABS_DIR, "mode": "ro"}, workdir: {"bind": workdir, "mode": "rw"}},
        working_dir=workdir, environment=full_env)
    member.start()
    return cname


def alive(cname):
    """True while the container's main process runs (False once it exited or was removed)."""
    member = _container(cname) if cname else None
    return bool(member is not None and member.attrs.get("State", {}).get("Running"))


def _wait_exited(member, timeout):
    # a kill only sends the signal; wait until the engine has seen the container die so that
    # alive() is False as soon as kill() returns, as with kill -9 of a process.
    try:
        member.wait(timeout=timeout)
    except (docker.errors.DockerException, OSError) as exc:
        if alive(member.name):
            raise ContainerEngineError("container %s still running %.0fs after SIGKILL (%s)" % (member.name, timeout, exc))


def _forget(cname):
    # A stopped member's container is of no further use: its output is in DIR/logs and its
    # handle is enough to start it again. Removing it keeps ``down`` from leaving any behind.
    member = _container(cname)
    if member is not None:
        with contextlib.suppress(docker.errors.NotFound):
            member.remove(force=True)


def stop(cname, timeout=10.0):
    """Graceful stop: SIGTERM to the member, SIGKILL after ``timeout`` seconds. Returns when gone."""
    if not cname:
        return
    if alive(cname):
        member = _container(cname)
        with contextlib.suppress(docker.errors.NotFound):
            member.stop(timeout=max(0, int(round(timeout + 0.49))))
        if alive(cname):
            kill(cname)
    _forget(cname)


def kill(cname):
    """Abrupt death, like kill -9: every process of the container gets SIGKILL, nothing cleans up."""
    if not cname:
        return
    if alive(cname):
        member = _container(cname)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            member.kill(signal="KILL")
            _wait_exited(member, timeout=30)
    _forget(cname)


def pause(cname, frozen=True):
    """Freeze every process of the container (the engine's cgroup freezer), or thaw it."""
    member = _container(cname)
    if member is None:
        raise ContainerEngineError("container %s does not exist" % cname)
    if frozen:
        member.pause()
    else:
        member.unpause()


def list_for(workdir):
    """Names of every container (running or not) started for ``workdir``."""
    members = client().containers.list(all=True, filters={"label": "%s=%s" % (WORKDIR_LABEL, os.path.abspath(workdir))})
    return sorted(member.name for member in members)


def remove_all(workdir):
    """Kill and delete every container of ``workdir`` (strays included); return their names.

    Graceful shutdown is runner.stop's job; this is the final sweep of ``labctl down``.
    """
    if not os.path.exists(os.path.join(os.path.abspath(workdir), MARK)):
        return []
    try:
        names = list_for(workdir)
    except ContainerEngineError:
        if not available():
            return []
        raise
    for name in names:
        _forget(name)
    for network in client().networks.list(filters={"label": "%s=%s" % (WORKDIR_LABEL, os.path.abspath(workdir))}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    return names


def create_network(workdir):
    """A bridge network of the lab's own, on a /24 of 10.231.0.0/16 that no other network uses;
    returns its name, subnet and the addresses its members may take (gateway excluded)."""
    workdir = os.path.abspath(workdir)
    open(os.path.join(workdir, MARK), "ab").close()
    name = "zdt-%s" % hashlib.sha256(workdir.encode()).hexdigest()[:10]
    with contextlib.suppress(docker.errors.NotFound):
        client().networks.get(name).remove()  # left by an 'up' of this workdir that crashed
    used = set()
    for third in random.sample(range(256), 256):
        prefix = "10.231.{}".format(third)
        if not used:
            used = {pool.get("Subnet") for net in client().networks.list()
                    for pool in ((net.attrs.get("IPAM") or {}).get("Config") or [])} or {None}
        if prefix + ".0/24" in used:
            continue
        try:
            client().networks.create(name, driver="bridge", labels={WORKDIR_LABEL: workdir}, ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=prefix + ".0/24", gateway=prefix + ".1")]))
        except docker.errors.APIError:
            used = set()  # another lab took a subnet since the look: look again
            continue
        return {"name": name, "subnet": prefix + ".0/24", "addresses": ["{}.{}".format(prefix, n) for n in range(2, 255)]}
    raise ContainerEngineError("no free /24 left in 10.231.0.0/16 for a lab network")


def mac_of(address):
    """The MAC address of the member at IPv4 ``address`` on a lab network, derived from it as Docker does.

    podman gives an interface a random MAC each time, so after a restart or a heal the host (where
    the tests and HAProxy run) could go on sending to the old one until its ARP entry expires, up
    to a minute; one MAC per address keeps every neighbour's entry right."""
    return "02:42:" + ":".join("%02x" % int(part) for part in address.split("."))


def partition(cname, network):
    """Cut the member off the lab network: it keeps running, nobody reaches it and it reaches nobody."""
    with contextlib.suppress(docker.errors.APIError):
        client().networks.get(network).disconnect(cname, force=True)


def heal(cname, network, address):
    """Put a partitioned member back on the lab network at its own address."""
    client().networks.get(network).connect(cname, ipv4_address=address, mac_address=mac_of(address))


def partitioned(cname, network):
    """True when the member runs but is not on the lab network."""
    member = _container(cname)
    return bool(member is not None and network not in (member.attrs.get("NetworkSettings") or {}).get("Networks", {}))
