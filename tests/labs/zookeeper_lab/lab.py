"""labctl entry points of the ZooKeeper lab."""
import os
import threading
import time

from labcommon import procs, runner, state
from zookeeper_lab import config, fourletter, tls_material

HOST = "127.0.0.1"


def add_arguments(parser):
    parser.add_argument("--servers", type=int, default=3, help="ensemble size (1, 3 or 5)")
    parser.add_argument("--containers", action="store_true", help="run each server in a container (Docker, or podman's Docker API)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a quorum")
    parser.add_argument("--tls", action="store_true",
                        help="also serve TLS on a secure client port per server (throw-away CA in DIR/tls)")
    parser.add_argument("--tls-client-auth", choices=("none", "want", "need"), default="need",
                        help="whether TLS clients must present a certificate signed by the lab CA")
    parser.add_argument("--readonly", action="store_true",
                        help="servers that lose their quorum keep serving read-only sessions")
    parser.add_argument("--network", action="store_true",
                        help="with --containers: the lab's own network, each server at its own address on ZooKeeper's "
                             "standard ports, so that 'labctl fault partition' can cut one off")


def up(args, workdir):
    if args.servers < 1 or args.servers > 7:
        raise SystemExit("zookeeper lab: --servers must be between 1 and 7")
    workdir = os.path.abspath(workdir)
    network = None
    if args.network:
        if not args.containers:
            raise SystemExit("zookeeper lab: --network needs --containers (processes share the host's loopback)")
        if args.tls:
            raise SystemExit("zookeeper lab: --network does not take --tls (the lab's server certificate names 127.0.0.1)")
        from labcommon import containers

        network = containers.create_network(workdir)
        # each server has an address of its own, so every one listens on ZooKeeper's standard ports
        ports = {sid: {"host": network["addresses"][sid - 1], "client": 2181, "peer": 2888, "election": 3888}
                 for sid in range(1, args.servers + 1)}
    else:
        ports = {
            sid: {"host": HOST, "client": procs.free_port(), "peer": procs.free_port(), "election": procs.free_port()}
            for sid in range(1, args.servers + 1)
        }
    settings = None
    members = {}
    data = {"lab": "zookeeper", "workdir": workdir, "servers": ports, "members": members, "readonly": args.readonly,
            "network": network}
    if args.tls:
        for p in ports.values():
            p["secure"] = 2281 if network else procs.free_port()
        settings, data["tls"] = tls_material.make(workdir, args.tls_client_auth)
    state.save(workdir, _jsonable(data))
    for sid in sorted(ports):
        cfg = config.write_member(workdir, sid, ports, settings, readonly=args.readonly)
        argv = config.server_argv(cfg, os.path.join(workdir, "logs"), readonly=args.readonly, netty=args.tls)
        members["zk%d" % sid] = runner.start("zk%d" % sid, argv, workdir, containers=args.containers,
                                             network=network["name"] if network else None, address=ports[sid]["host"])
        state.save(workdir, _jsonable(data))
    try:
        wait_quorum(data, args.timeout)
    except BaseException:
        down(workdir)  # labctl keeps no lab behind when up fails
        state.remove(workdir)
        raise
    return status(workdir)


def _jsonable(data):
    out = dict(data)
    out["servers"] = {str(k): v for k, v in data["servers"].items()}
    return out


def _servers(data):
    return {int(k): v for k, v in data["servers"].items()}


def modes(data):
    """name -> mode reported by srvr (None when down)."""
    return {"zk%d" % sid: fourletter.mode(p.get("host", HOST), p["client"]) for sid, p in sorted(_servers(data).items())}


def wait_quorum(data, timeout):
    """Until every running member serves and exactly one is leader (or standalone)."""
    deadline = time.monotonic() + timeout
    seen = {}
    while time.monotonic() < deadline:
        # a partitioned member runs but answers nobody: the others' quorum is what counts
        seen = {name: mode for name, mode in modes(data).items()
                if runner.alive(data["members"][name]) and not runner.partitioned(data["members"][name])}
        running = list(seen.values())
        serving = [m for m in running if m]
        leaders = [m for m in serving if m in ("leader", "standalone")]
        if running and len(serving) == len(running) and len(leaders) == 1:
            return seen
        time.sleep(0.2)
    raise SystemExit("zookeeper lab: no quorum within %.0fs (modes: %s); see %s/logs"
                     % (timeout, seen, data.get("workdir")))


def leader(data):
    for name, mode in modes(data).items():
        if mode in ("leader", "standalone"):
            return name
    return None


def status(workdir):
    data = state.load(workdir)
    servers = _servers(data)
    current = modes(data)
    members = []
    for sid, p in sorted(servers.items()):
        name = "zk%d" % sid
        handle = data["members"].get(name, {})
        members.append({
            "name": name, "id": sid, "host": p.get("host", HOST), "port": p["client"], "peer_port": p["peer"],
            "election_port": p["election"], "mode": current[name], "alive": runner.alive(handle) if handle else False,
            "runner": handle.get("mode"), "secure_port": p.get("secure"), "partitioned": runner.partitioned(handle),
        })
    out = {
        "lab": "zookeeper",
        "workdir": data["workdir"],
        "network": (data.get("network") or {}).get("subnet"),
        "hosts": ",".join("%s:%d" % (p.get("host", HOST), p["client"]) for dummy, p in sorted(servers.items())),
        "servers": members,
        "leader": next((m["name"] for m in members if m["mode"] in ("leader", "standalone")), None),
        "zkcli": "/usr/share/zookeeper/bin/zkCli.sh",
        "readonly": bool(data.get("readonly")),
    }
    if data.get("tls"):
        out.update(data["tls"])
        out["tls_hosts"] = ",".join("%s:%d" % (p.get("host", HOST), p["secure"]) for dummy, p in sorted(servers.items()))
    return out


def fault(action, name, workdir):
    data = state.load(workdir)
    target = leader(data) if name == "leader" else name
    if target is None:
        raise SystemExit("zookeeper lab: no leader right now")
    target = runner.member_key(data["members"], target, aliases=["leader"])
    handle = data["members"][target]
    data["members"][target] = runner.apply_fault(action, handle, workdir)
    if action in ("start", "restart", "heal"):
        state.save(workdir, data)
        wait_quorum(data, 60.0)
    out = status(workdir)
    out["fault"] = {"action": action, "target": target, "requested": name}
    return out


def down(workdir):
    data = state.load(workdir)
    handles = list(data.get("members", {}).values())
    # In parallel: each stop waits until its process is really gone, which can take a while.
    stoppers = [threading.Thread(target=runner.stop, args=(h,), kwargs={"timeout": 5.0}) for h in handles]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(60.0)
    if any(h.get("mode") == "container" for h in handles):
        from labcommon import containers

        containers.remove_all(data["workdir"])
