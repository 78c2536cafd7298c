"""labctl glue for the EMQX lab: up / status / fault / down."""
import base64
import os
import secrets
import threading
import time

import httpx

from labcommon import procs, runner, state

from emqx_lab import api_fault, config, haproxy
from emqx_lab.store import Store

HOST = "127.0.0.1"
NODE_SUFFIX = "@" + HOST
# a node at an address of its own listens where EMQX does by default
EMQX_MQTT_PORT = 1883
EMQX_API_PORT = 18083
EMQX_API_V4_PORT = 8081


def add_arguments(parser):
    parser.add_argument("--blue", type=int, default=3, help="number of blue nodes")
    parser.add_argument("--green", type=int, default=3, help="number of green nodes (defined, started on demand)")
    parser.add_argument("--api", choices=("v5", "v4"), default="v5", help="also serve the 4.4 API with v4")
    parser.add_argument("--containers", action="store_true", help="run members as containers (Docker, or podman's Docker API)")
    parser.add_argument("--network", action="store_true",
                        help="with --containers: every node and mosquitto in a container of its own at its own address on a "
                             "network the lab creates (EMQX's default ports), so that a node can be partitioned")
    parser.add_argument("--start-green", action="store_true", help="start the green nodes too")
    parser.add_argument("--replicants", type=int, default=0,
                        help="replicant nodes per colour; MQTT clients then reach replicants (cores are HAProxy backups)")
    parser.add_argument("--blue-version", default=None, help="default 5.8.6 (4.4.24 with --api v4)")
    parser.add_argument("--green-version", default=None, help="default 5.10.4 (4.4.24 with --api v4)")
    parser.add_argument("--load-balancers", type=int, default=1,
                        help="HAProxy instances side by side (an active-active pair with 2), each with every node as a server")


# The nodes reach mosquitto over a UNIX socket when its path fits (108 bytes with the NUL): their
# hop is the lab's plumbing, not EMQX's, and over TCP it would take an ephemeral port per client
# plus one in TIME_WAIT per eviction. At 10,000 clients that, with the clients' own ports and
# HAProxy's connections to the nodes, used up the 28,000 ephemeral ports of 127.0.0.1 in mid-drain,
# and a client that binds before it connects (paho does) got EADDRINUSE.
MAX_UNIX_PATH = 100


def _mosquitto_socket(workdir):
    path = os.path.join(workdir, "mosquitto.sock")
    return path if len(path.encode()) <= MAX_UNIX_PATH else None


def _mosquitto_conf(workdir, port, unix_socket=None, networked=False):
    data = os.path.join(workdir, "mosquitto") + os.sep
    os.makedirs(data, exist_ok=True)
    # on a lab network: every address of its container (its own, and loopback)
    listeners = ["listener %d" % port if networked else "listener %d %s" % (port, HOST)]
    if unix_socket:
        listeners += ["listener 0 %s" % unix_socket]
    return "\n".join(listeners + [
        "allow_anonymous true",
        "persistence true",
        "persistence_location %s" % data,
        "autosave_interval 5",
        "max_queued_messages 100000",
        "max_inflight_messages 100",
        "max_keepalive 65535",
        "set_tcp_nodelay true",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "user %s" % _user(),
        "",
    ])


def _user():
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _short(name):
    return name.split("@", 1)[0]


def up(args, workdir):
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    v4 = args.api == "v4"
    blue_version = args.blue_version or ("4.4.24" if v4 else "5.8.6")
    green_version = args.green_version or ("4.4.24" if v4 else "5.10.4")
    creds = {
        "username": "admin", "password": secrets.token_urlsafe(12),
        "api_key": "lab-" + secrets.token_hex(6), "api_secret": secrets.token_urlsafe(24),
        "viewer_api_key": "viewer-" + secrets.token_hex(6), "viewer_api_secret": secrets.token_urlsafe(24),
        "app_id": "admin", "app_secret": secrets.token_urlsafe(16),
        "token_secret": secrets.token_hex(32),
    }
    network = None
    if getattr(args, "network", False):
        if not args.containers:
            raise SystemExit("emqx lab: --network needs --containers (processes share the host's loopback)")
        from labcommon import containers

        network = containers.create_network(workdir)
    addresses = iter(network["addresses"] if network else ())
    nodes = []
    replicants = getattr(args, "replicants", 0) or 0
    for colour, count, version in (("blue", args.blue, blue_version), ("green", args.green, green_version)):
        roles = [("core", "%d" % i) for i in range(1, count + 1)]
        if count:
            roles += [("replicant", "r%d" % i) for i in range(1, replicants + 1)]
        for role, suffix in roles:
            if network:
                # a host of its own: EMQX's default ports, and a node name that carries its address as EMQX's does
                address = next(addresses)
                spec = {"name": "emqx-%s-%s@%s" % (colour, suffix, address), "host": address,
                        "api_port": EMQX_API_PORT, "mqtt_port": EMQX_MQTT_PORT}
                if v4:
                    spec["api_v4_port"] = EMQX_API_V4_PORT
            else:
                spec = {"name": "emqx-%s-%s%s" % (colour, suffix, NODE_SUFFIX), "api_port": procs.free_port(),
                        "mqtt_port": procs.free_port()}
                if v4:
                    spec["api_v4_port"] = procs.free_port()
            spec.update(colour=colour, version=version, role=role, edition="Enterprise")
            nodes.append(spec)
    count = getattr(args, "load_balancers", 1) or 1
    if count < 1:
        raise SystemExit("labctl: --load-balancers must be at least 1")
    lbs = [_lb_spec(workdir, i) for i in range(1, count + 1)]
    mosquitto = ({"host": next(addresses), "port": EMQX_MQTT_PORT, "socket": None} if network
                 else {"port": procs.free_port(), "socket": _mosquitto_socket(workdir)})
    cfg = {"api": args.api, "credentials": creds, "nodes": nodes, "mosquitto": mosquitto, "lbs": lbs}
    config.save(workdir, cfg)
    store = Store(config.db_path(workdir))
    store.define([n["name"] for n in nodes])
    store.close()

    with open(os.path.join(workdir, "mosquitto.conf"), "w") as handle:
        handle.write(_mosquitto_conf(workdir, cfg["mosquitto"]["port"], cfg["mosquitto"]["socket"], networked=bool(network)))
    if v4:
        check_path = "/api/v4/load_rebalance/availability_check"
        basic = "%s:%s" % (creds["app_id"], creds["app_secret"])
    else:
        check_path = "/api/v5/load_rebalance/availability_check"
        basic = "%s:%s" % (creds["api_key"], creds["api_secret"])
    servers = [(_short(n["name"]), config.host(n), n["mqtt_port"], n["api_v4_port"] if v4 else n["api_port"])
               for n in _listeners(nodes)]
    for lb in lbs:
        with open(lb["config"], "w") as handle:
            handle.write(haproxy.render(lb["runtime_socket"], lb["mqtt_port"], lb["stats_port"],
                                        servers, check_path, "Basic " + base64.b64encode(basic.encode()).decode()))

    members = {}
    lab_state = {"lab": "emqx", "workdir": workdir, "containers": bool(args.containers), "members": members,
                 "network": network}
    on_network = {"network": network["name"]} if network else {}
    state.save(workdir, lab_state)
    try:
        members["mosquitto"] = runner.start("mosquitto", ["mosquitto", "-c", os.path.join(workdir, "mosquitto.conf")],
                                            workdir, containers=args.containers,
                                            address=cfg["mosquitto"].get("host"), **on_network)
        state.save(workdir, lab_state)
        procs.wait_port(config.host(cfg["mosquitto"]), cfg["mosquitto"]["port"], timeout=20)
        for spec in nodes:
            handle = {"name": _short(spec["name"]), "mode": "container" if args.containers else "process",
                      "argv": procs.python_argv("emqx_lab.node", "--workdir", workdir, "--name", spec["name"]),
                      "env": {}, "pid": None}
            if network:
                handle.update(network=network["name"], address=spec["host"])
            members[spec["name"]] = handle
            if spec["colour"] == "blue" or args.start_green:
                runner.restart(handle, workdir)
            state.save(workdir, lab_state)
        for spec in nodes:
            if members[spec["name"]].get("pid") or members[spec["name"]].get("container"):
                _wait_node(workdir, spec)
        for lb in lbs:
            members[lb["member"]] = runner.start(lb["member"], ["haproxy", "-f", lb["config"], "-db"], workdir,
                                                 containers=args.containers)
            state.save(workdir, lab_state)
        for lb in lbs:
            procs.wait_port(HOST, lb["mqtt_port"], timeout=20)
            _wait_lb(lb, cfg, members)
    except Exception:
        down(workdir)
        raise
    return status(workdir)


def _lb_spec(workdir, index):
    """The first HAProxy keeps the names a one-balancer lab always had (member haproxy, haproxy.sock)."""
    suffix = "" if index == 1 else "-%d" % index
    return {"member": "haproxy" + suffix, "mqtt_port": procs.free_port(), "stats_port": procs.free_port(),
            "runtime_socket": os.path.join(workdir, "haproxy%s.sock" % suffix),
            "config": os.path.join(workdir, "haproxy%s.cfg" % suffix)}


def _listeners(nodes):
    """The nodes behind the MQTT front end: with replicants, only they take clients, as the
    operator's listeners Service selects replicant pods when there are any."""
    replicants = [n for n in nodes if n.get("role", "core") == "replicant"]
    return replicants or list(nodes)


def _wait_node(workdir, spec, timeout=30.0):
    procs.wait_port(config.host(spec), spec["api_port"], timeout=timeout)
    store = Store(config.db_path(workdir))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if spec["name"] in store.running():
                return
            time.sleep(0.1)
        raise TimeoutError("%s did not join the cluster" % spec["name"])
    finally:
        store.close()


def _wait_lb(lb, cfg, members, timeout=20.0):
    """Until this HAProxy's view matches the members: started nodes UP, the others DOWN."""
    deadline = time.monotonic() + timeout
    want = {}
    while time.monotonic() < deadline:
        want = {_short(n["name"]): "UP" if _alive(members[n["name"]]) else "DOWN" for n in _listeners(cfg["nodes"])}
        try:
            seen = haproxy.server_states(lb["runtime_socket"])
        except OSError:
            seen = {}
        if all(seen.get(k, "").startswith(v) for k, v in want.items()):
            return
        time.sleep(0.2)
    raise TimeoutError("HAProxy did not reach %s" % want)


def _alive(handle):
    """A member that was started and is still there (defined green nodes have no process yet)."""
    return bool(handle and (handle.get("pid") or handle.get("container")) and runner.alive(handle))


def status(workdir):
    workdir = os.path.abspath(workdir)
    lab_state = state.load(workdir)
    cfg = config.load(workdir)
    members = lab_state["members"]
    v4 = cfg["api"] == "v4"
    nodes = []
    for spec in cfg["nodes"]:
        handle = members.get(spec["name"]) or {}
        running = _alive(handle)
        entry = {"name": spec["name"], "member": _short(spec["name"]), "colour": spec["colour"],
                 "role": spec.get("role", "core"),
                 "version": spec["version"], "edition": spec["edition"],
                 "api_url": "http://%s:%d" % (config.host(spec), spec["api_port"]), "mqtt_port": spec["mqtt_port"],
                 "status": "running" if running else "stopped", "pid": handle.get("pid") if running else None,
                 "data_dir": os.path.join(workdir, "data", spec["name"])}
        if v4:
            entry["api_v4_url"] = "http://%s:%d" % (config.host(spec), spec["api_v4_port"])
        nodes.append(entry)
    creds = cfg["credentials"]
    servers = {_short(n["name"]): n["name"] for n in _listeners(cfg["nodes"])}
    balancers = [{"mqtt_host": HOST, "mqtt_port": lb["mqtt_port"], "runtime_socket": lb["runtime_socket"],
                  "config": lb["config"], "stats_url": "http://%s:%d/stats" % (HOST, lb["stats_port"]),
                  "backend": "emqx_mqtt", "member": lb["member"],
                  "status": "running" if _alive(members.get(lb["member"])) else "stopped",
                  "pid": (members.get(lb["member"]) or {}).get("pid"), "servers": servers}
                 for lb in cfg["lbs"]]
    out = {
        "lab": "emqx", "workdir": workdir, "api": cfg["api"],
        "containers": lab_state.get("containers", False),
        "credentials": {k: creds[k] for k in ("api_key", "api_secret", "username", "password", "app_id",
                                              "app_secret", "viewer_api_key", "viewer_api_secret")},
        "nodes": nodes,
        # lb: the first (or only) balancer; load_balancers: all of them, each with every node as a server
        "lb": balancers[0],
        "load_balancers": balancers,
        "mosquitto": {"host": config.host(cfg["mosquitto"]), "port": cfg["mosquitto"]["port"],
                      "status": "running" if _alive(members.get("mosquitto")) else "stopped",
                      "pid": (members.get("mosquitto") or {}).get("pid")},
        "logs": os.path.join(workdir, "logs"),
    }
    if lab_state.get("network"):
        out["network"] = lab_state["network"]["subnet"]
        out["partitioned"] = sorted(handle["name"] for handle in members.values() if _alive(handle) and runner.partitioned(handle))
    return out


def fault(action, name, workdir, seconds=10.0):
    workdir = os.path.abspath(workdir)
    lab_state = state.load(workdir)
    cfg = config.load(workdir)
    members = lab_state["members"]
    key = runner.member_key(members, name)
    handle = members[key]
    if action == "api-error":
        node = next((n for n in cfg["nodes"] if n["name"] in (key, handle.get("name"))), None)
        if node is None:
            raise SystemExit("labctl: api-error needs an EMQX node, not %s" % key)
        api_fault.set_until(workdir, node["name"], time.time() + seconds)
    elif action in ("partition", "heal", "pause", "unpause"):
        members[key] = runner.apply_fault(action, handle, workdir)
        if action in ("heal", "unpause") and _alive(members[key]) and any(n["name"] == key for n in cfg["nodes"]):
            _wait_rejoined(cfg, members, key)
    elif action == "kill":
        if _alive(handle):
            runner.kill(handle)
    elif action == "stop":
        if _alive(handle):
            runner.stop(handle)
    elif action in ("start", "restart"):
        if action == "restart" and _alive(handle):
            runner.stop(handle)
        if not _alive(handle):
            runner.restart(handle, workdir)
            state.save(workdir, lab_state)
            _wait_member(workdir, cfg, key)
    state.save(workdir, lab_state)
    return status(workdir)


def _wait_rejoined(cfg, members, name, timeout=30.0):
    """After a heal (or a thaw): until every running node sees ``name`` running again and none is
    still restarting after the partition (the autoheal of the node that was cut off)."""
    deadline = time.monotonic() + timeout
    views = {}
    while time.monotonic() < deadline:
        views = {}
        for spec in cfg["nodes"]:
            if not _alive(members.get(spec["name"])):
                continue
            url = "http://%s:%d/_lab/rpc/view" % (config.host(spec), spec["api_port"])
            try:
                views[spec["name"]] = httpx.post(url, json={}, timeout=2).json()["result"]
            except (httpx.HTTPError, ValueError, KeyError):
                views[spec["name"]] = None
        if all(view and view["settled"] and name in view["running"] for view in views.values()):
            return
        time.sleep(0.2)
    raise TimeoutError("%s did not rejoin every node's view within %.0fs: %s" % (name, timeout, views))


def _wait_member(workdir, cfg, key):
    if key == "mosquitto":
        procs.wait_port(config.host(cfg["mosquitto"]), cfg["mosquitto"]["port"], timeout=20)
    else:
        lb = next((lb for lb in cfg["lbs"] if lb["member"] == key), None)
        if lb is not None:
            procs.wait_port(HOST, lb["mqtt_port"], timeout=20)
        else:
            _wait_node(workdir, config.node(cfg, key))


def down(workdir):
    workdir = os.path.abspath(workdir)
    try:
        lab_state = state.load(workdir)
    except SystemExit:
        return
    members = lab_state.get("members", {})
    # Nodes discard their sessions in mosquitto while stopping, so mosquitto goes last.
    _stop_all([h for k, h in members.items() if k != "mosquitto"])
    _stop_all([members.get("mosquitto")])


def _stop_all(handles):
    """Stop members side by side (each stop waits for its process to be gone)."""
    threads = [threading.Thread(target=runner.stop, args=(h,), kwargs={"timeout": 10.0})
               for h in handles if _alive(h)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
