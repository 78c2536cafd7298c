"""Xenon lab: a blue and a green node group serving Xenon's REST API, real HAProxy in front.

    labctl up xenon --blue 2 --green 2 --workdir DIR [--auth] [--green-idempotent-post]
                    [--migration-factory plain|idempotent|off] [--writer-rate N] [--containers]

Blue serves through the load balancer; green starts with its servers in maintenance. Green
nodes run the MigrationTaskService factory (Xenon does not start it by default; the lab does,
as the wiki tells the application to) and the transformation services /lab/transforms/*.
"""
import os
import time

import httpx

from labcommon import procs, runner, state

LAB = "xenon"
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


def _node_argv(name, colour, port, peers, workdir, args):
    argv = procs.python_argv("xenon_lab.node", "--name", name, "--group", colour, "--port", port,
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
    nodes = {}
    for colour, count in (("blue", args.blue), ("green", args.green)):
        for index in range(1, count + 1):
            nodes["%s-%d" % (colour, index)] = {"colour": colour, "port": procs.free_port()}
    peers = {colour: ",".join("%s=127.0.0.1:%d" % (n, v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == colour)
             for colour in ("blue", "green")}
    data = {"lab": LAB, "workdir": workdir, "auth": bool(args.auth), "containers": bool(args.containers),
            "members": {}, "nodes": nodes}
    state.save(workdir, data)
    for name, info in sorted(nodes.items()):
        argv = _node_argv(name, info["colour"], info["port"], peers[info["colour"]], workdir, args)
        data["members"][name] = runner.start(name, argv, workdir, containers=args.containers)
        state.save(workdir, data)
    for name, info in sorted(nodes.items()):
        procs.wait_port("127.0.0.1", info["port"], timeout=30, pid=data["members"][name].get("pid"))
    for colour in ("blue", "green"):
        wait_group(["http://127.0.0.1:%d" % v["port"] for v in nodes.values() if v["colour"] == colour], args.auth)

    from xenon_lab import haproxy  # imported late: `python -m xenon_lab.haproxy` must not find it loaded

    lb_port = procs.free_port()
    paths = haproxy.write_config(
        workdir, lb_port,
        [(n, v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == "blue"],
        [(n, v["port"]) for n, v in sorted(nodes.items()) if v["colour"] == "green"])
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
    for colour in ("blue", "green"):
        members = sorted((n, v) for n, v in data["nodes"].items() if v["colour"] == colour)
        urls = ["http://127.0.0.1:%d" % v["port"] for unused, v in members]
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
    if name not in data["members"]:
        raise SystemExit("labctl: no member %r in this lab (members: %s)" % (name, ", ".join(sorted(data["members"]))))
    handle = data["members"][name]
    if action == "kill":
        runner.kill(handle)
    elif action == "stop":
        runner.stop(handle)
    elif action == "restart" or not runner.alive(handle):
        runner.stop(handle)
        data["members"][name] = runner.restart(handle, workdir)
        if name in data["nodes"]:
            procs.wait_port("127.0.0.1", data["nodes"][name]["port"], timeout=30, pid=data["members"][name].get("pid"))
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
