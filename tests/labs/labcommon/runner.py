"""Lab members (servers, proxies, simulators) run either as local processes or as
containers with host networking. Labs only talk to this module, so switching a lab to
containers is one flag. A member handle is a plain dict stored in the lab state:

    {"name": ..., "argv": [...], "env": {...}, "mode": "process"|"container", "pid": N | "container": "..."}

Container mode lives in labcommon.containers (the Docker Engine API); process mode uses
labcommon.procs.
"""
import signal

from labcommon import procs


def member_key(members, name, aliases=()):
    """The key in ``members`` of the member ``name`` names: its key, or the "name" of its handle
    (a container's name). Exits naming the members (and the ``aliases`` the lab also takes)."""
    if name in members:
        return name
    for key, handle in members.items():
        if name == (handle or {}).get("name"):
            return key
    raise SystemExit("labctl: no member %r in this lab (members: %s)" % (name, ", ".join(sorted(members) + list(aliases))))


def start(name, argv, workdir, env=None, containers=False, network=None, address=None):
    """Start one member and return its handle (argv/env are kept so it can be restarted).

    A container member goes on the lab's own ``network`` at ``address`` when they are given (see
    containers.create_network), else on the host network."""
    handle = {"name": name, "argv": list(argv), "env": dict(env or {}), "mode": "container" if containers else "process"}
    if network:
        handle.update(network=network, address=address)
    return restart(handle, workdir)


def restart(handle, workdir):
    """(Re)start a member from its handle, e.g. after kill; returns the updated handle."""
    forget_links(handle)  # a member that died by itself may have left a delay process behind
    if handle["mode"] == "container":
        from labcommon import containers

        handle["container"] = containers.run(handle["name"], handle["argv"], workdir, env=handle["env"],
                                             network=handle.get("network"), address=handle.get("address"))
        handle["pid"] = None
    else:
        env = procs.labs_env()
        env.update(handle["env"])
        handle["pid"] = procs.spawn(handle["name"], handle["argv"], workdir, env=env)
    return handle


def alive(handle):
    if handle.get("mode") == "container":
        from labcommon import containers

        return containers.alive(handle["container"])
    return procs.alive(handle.get("pid"))


def stop(handle, timeout=10.0):
    """Graceful stop (SIGTERM, then SIGKILL after ``timeout``)."""
    forget_links(handle)
    if handle.get("mode") == "container":
        from labcommon import containers

        containers.stop(handle["container"], timeout=timeout)
    else:
        procs.stop(handle.get("pid"), signal.SIGTERM, timeout=timeout)


def kill(handle):
    """Abrupt death: kill -9, no clean-up runs in the member."""
    forget_links(handle)
    if handle.get("mode") == "container":
        from labcommon import containers

        containers.kill(handle["container"])
    else:
        procs.kill9(handle.get("pid"))


def forget_links(handle):
    """The member's link faults die with its network namespace: stop the delay process that holds it."""
    from labcommon import links

    links.stop_delay(handle.pop("delay_pid", None))
    handle.pop("cut_from", None)
    handle.pop("delay_ms", None)


def partitioned(handle):
    """True when the member runs on a lab network but is cut off it, or off some of its peers
    (labctl fault partition [--from])."""
    if not handle.get("network") or not alive(handle):
        return False
    if handle.get("cut_from"):
        return True
    from labcommon import containers

    return containers.partitioned(handle["container"], handle["network"])


def apply_fault(action, handle, workdir):
    """What ``labctl fault ACTION`` does to one member: kill, stop, or (re)start it - ``start`` on
    a running member restarts it -, pause and unpause it, or partition it from the lab network and
    heal it (members on a lab network only). Returns the member's handle afterwards (save it in the
    state)."""
    if action in ("partition", "heal"):
        if not handle.get("network"):
            raise SystemExit("labctl: %s runs on the host network; partitions need a lab started with --containers --network"
                             % handle["name"])
        from labcommon import containers

        if action == "partition":
            containers.partition(handle["container"], handle["network"])
        elif containers.partitioned(handle["container"], handle["network"]):
            containers.heal(handle["container"], handle["network"], handle["address"])
        return handle
    if action in ("pause", "unpause"):
        # Frozen, not dead: sockets stay open and nothing answers, as in a long stop-the-world
        # pause of a JVM or a stalled VM; unpaused, the member goes on from where it was.
        if handle.get("mode") == "container":
            from labcommon import containers

            containers.pause(handle["container"], action == "pause")
        else:
            procs.signal_tree(handle.get("pid"), signal.SIGSTOP if action == "pause" else signal.SIGCONT)
        return handle
    if action == "kill":
        kill(handle)
    elif action == "stop":
        stop(handle)
    else:
        if action == "restart" or alive(handle):
            stop(handle)
        handle = restart(handle, workdir)
    return handle
