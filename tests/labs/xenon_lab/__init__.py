"""Xenon lab: a blue and a green node group serving Xenon's REST API, real HAProxy in front.

    labctl up xenon --blue 2 --green 2 --workdir DIR [--auth] [--green-idempotent-post]
                    [--migration-factory plain|idempotent|off] [--writer-rate N] [--containers [--network]]

Blue serves through the load balancer; green starts with its servers in maintenance. Green
nodes run the MigrationTaskService factory (Xenon does not start it by default; the lab does,
as the wiki tells the application to) and the transformation services /lab/transforms/*.

With --containers --network every node runs in a container of its own at its own address on the
lab's network, on Xenon's default port 8000; HAProxy and the writer stay on the host's network
and reach the nodes there. ``labctl fault partition NODE`` then cuts a node off while it runs.
"""
import os
import time

import httpx

from labcommon import procs, runner, state

LAB = "xenon"
HOST = "127.0.0.1"
XENON_PORT = 8000  # ServiceHost's default --port, used where each node has an address of its own
USER = "admin@localhost"
PASSWORD = "changeme"
FACTORIES = "/core/examples"


def add_arguments(parser):
    parser.add_argument("--blue", type=int, default=2, help="nodes in the blue (old) group")
    parser.add_argument("--green", type=int, default=2, help="nodes in the green (new) group")
    parser.add_argument("--auth", action="store_true", help="require /core/authn/basic tokens on every node")
    parser.add_argument("--green-idempotent-post", action="store_true",
                        help="green factories turn a POST on an existing document into a PUT")
    parser.add_argument("--migration-factory", choices=("plain", "idempotent", "off"), default="plain",
                        help="how green starts MigrationTaskService (off: not started, the POST gets 404)")
    parser.add_argument("--writer-rate", type=float, default=0.0,
                        help="start a writer through the load balancer at this many writes/s (0: none)")
    parser.add_argument("--containers", action="store_true", help="run every member in a container (Docker, or podman's Docker API)")
    parser.add_argument("--network", action="store_true",
                        help="with --containers: the lab's own network, each node at its own address, so that "
                             "'labctl fault partition NODE' can cut one off")


def _node_url(info):
    return "http://%s:%d" % (info.get("host", HOST), info["port"])


def _node_argv(name, colour, info, peers, workdir, args):
    argv = procs.python_argv("xenon_lab.node", "--name", name, "--group", colour, "--host", info.get("host", HOST),
                             "--port", info["port"],
                             "--peers", peers, "--sandbox", os.path.join(os.path.abspath(workdir), "%s.db" % name),
                             "--factories", FACTORIES)
    if colour == "green":
        argv += ["--migration-factory", args.migration_factory]
        if args.green_idempotent_post:
            argv.append("--idempotent-post")
    if args.auth:
        argv += ["--auth-user", USER, "--auth-password", PASSWORD]
    return argv


def _login(url, auth):
    if not auth:
        return {}
    response = httpx.post(url + "/core/authn/basic", json={"requestType": "LOGIN"}, auth=(USER, PASSWORD), timeout=5)
    response.raise_for_status()
    return {"x-xenon-auth-token": response.headers["x-xenon-auth-token"]}


def wait_group(urls, auth, timeout=30.0):
    """Ready = every node answers /available and all report the same membership time."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            headers = _login(urls[0], auth)
            times = set()
            for url in urls:
                available = httpx.get(url + "/core/node-groups/default/available", headers=headers, timeout=2)
                group = httpx.get(url + "/core/node-groups/default", headers=headers, timeout=2).json()
                if available.status_code != 200 or len(group["nodes"]) != sum(
                        1 for n in group["nodes"].values() if n["status"] == "AVAILABLE"):
                    raise RuntimeError("%s not available yet" % url)
                times.add(group["membershipUpdateTimeMicros"])
            if len(times) == 1:
                return
            last = "membership times differ: %s" % sorted(times)
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError("node group %s not ready within %.0fs: %s" % (urls, timeout, last))


def up(args, workdir):
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    network = None
    if args.network:
        if not args.containers:
            raise SystemExit("xenon lab: --network needs --containers (processes share the host's loopback)")
        from labcommon import containers

        network = containers.create_network(workdir)
    addresses = iter(network["addresses"] if network else ())
    nodes = {}
    for colour, count in (("blue", args.blue), ("green", args.green)):
        for index in range(1, count + 1):
            nodes["%s-%d" % (colour, index)] = ({"colour": colour, "host": next(addresses), "port": XENON_PORT} if network
                                                else {"colour": colour, "host": HOST, "port": procs.free_port()})
    peers = {colour: ",".join("%s=%s:%d" % (n, v["host"], v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == colour)
             for colour in ("blue", "green")}
    data = {"lab": LAB, "workdir": workdir, "auth": bool(args.auth), "containers": bool(args.containers),
            "members": {}, "nodes": nodes, "network": network}
    state.save(workdir, data)
    for name, info in sorted(nodes.items()):
        argv = _node_argv(name, info["colour"], info, peers[info["colour"]], workdir, args)
        data["members"][name] = runner.start(name, argv, workdir, containers=args.containers,
                                             network=network["name"] if network else None, address=info["host"])
        state.save(workdir, data)
    for name, info in sorted(nodes.items()):
        procs.wait_port(info["host"], info["port"], timeout=30, pid=data["members"][name].get("pid"))
    for colour in ("blue", "green"):
        wait_group([_node_url(v) for v in nodes.values() if v["colour"] == colour], args.auth)

    from xenon_lab import haproxy  # imported late: `python -m xenon_lab.haproxy` must not find it loaded

    lb_port = procs.free_port()
    paths = haproxy.write_config(
        workdir, lb_port,
        [(n, v["host"], v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == "blue"],
        [(n, v["host"], v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == "green"])
    data["haproxy"] = {"port": lb_port, **paths}
    data["members"]["haproxy"] = runner.start("haproxy", ["haproxy", "-f", paths["config"], "-db"], workdir,
                                              containers=args.containers)
    state.save(workdir, data)
    procs.wait_port("127.0.0.1", lb_port, timeout=30, pid=data["members"]["haproxy"].get("pid"))
    _wait_lb(data)

    if args.writer_rate > 0:
        argv = procs.python_argv("xenon_lab.writer", "--url", "http://127.0.0.1:%d" % lb_port,
                                 "--log", os.path.join(workdir, "writer.jsonl"), "--rate", args.writer_rate)
        if args.auth:
            argv += ["--username", USER, "--password", PASSWORD]
        data["members"]["writer"] = runner.start("writer", argv, workdir, containers=args.containers)
        data["writer_log"] = os.path.join(workdir, "writer.jsonl")
    state.save(workdir, data)
    return describe(data)


def _wait_lb(data, timeout=20.0):
    url = "http://127.0.0.1:%d" % data["haproxy"]["port"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/core/management", headers=_login(url, data["auth"]), timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("load balancer %s does not reach blue within %.0fs" % (url, timeout))


def describe(data):
    out = {"lab": LAB, "workdir": data["workdir"], "factories": FACTORIES.split(","),
           "transformation_services": {"schema_v2": "/lab/transforms/schema-v2", "broken": "/lab/transforms/broken"},
           "auth": {"username": USER, "password": PASSWORD} if data["auth"] else None,
           "members": {name: runner.alive(handle) for name, handle in sorted(data["members"].items())}}
    if data.get("network"):
        out["network"] = data["network"]["subnet"]
        out["partitioned"] = sorted(name for name, handle in data["members"].items() if runner.partitioned(handle))
    for colour in ("blue", "green"):
        members = sorted((n, v) for n, v in data["nodes"].items() if v["colour"] == colour)
        urls = [_node_url(v) for unused, v in members]
        out[colour] = {"nodes": [{"name": member[0], "url": url} for member, url in zip(members, urls)],
                       "node_group": urls[0] + "/core/node-groups/default" if urls else None}
    if "haproxy" in data:
        out["load_balancer"] = {"url": "http://127.0.0.1:%d" % data["haproxy"]["port"],
                                "socket": data["haproxy"]["socket"], "backend": "xenon",
                                "ctl": procs.python_argv("xenon_lab.haproxy", "--socket", data["haproxy"]["socket"]),
                                "pythonpath": procs.labs_env()["PYTHONPATH"]}
    if data.get("writer_log"):
        out["writer_log"] = data["writer_log"]
    return out


def status(workdir):
    return describe(state.load(workdir))


def fault(action, name, workdir):
    data = state.load(workdir)
    name = runner.member_key(data["members"], name)
    handle = data["members"][name]
    if action in ("partition", "heal", "pause", "unpause"):
        data["members"][name] = runner.apply_fault(action, handle, workdir)
        if action in ("heal", "unpause") and name in data["nodes"]:
            # back on the network or running again, the node rejoins its group: wait until every node agrees again
            colour = data["nodes"][name]["colour"]
            wait_group([_node_url(v) for v in data["nodes"].values() if v["colour"] == colour], data["auth"])
        return describe(data)
    if action == "kill":
        runner.kill(handle)
    elif action == "stop":
        runner.stop(handle)
    elif action == "restart" or not runner.alive(handle):
        runner.stop(handle)
        data["members"][name] = runner.restart(handle, workdir)
        if name in data["nodes"]:
            try:
                procs.wait_port(data["nodes"][name].get("host", HOST), data["nodes"][name]["port"], timeout=30,
                                pid=data["members"][name].get("pid"))
            except (TimeoutError, RuntimeError) as exc:
                raise SystemExit("xenon lab: %s did not come back: %s; the end of its log:\n%s"
                                 % (name, exc, procs.log_tail(workdir, name)))
    state.save(workdir, data)
    return describe(data)


def down(workdir):
    data = state.load(workdir)
    order = ["writer", "haproxy"] + sorted(n for n in data["members"] if n not in ("writer", "haproxy"))
    for name in order:
        if name in data["members"]:
            runner.stop(data["members"][name], timeout=5)
    if data.get("containers"):
        from labcommon import containers

        remove_all = getattr(containers, "remove_all", None)
        if remove_all is not None:
            remove_all(workdir)
