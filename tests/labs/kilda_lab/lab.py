"""labctl entry points of the Kilda lab."""
import json
import os
import threading
import time

from labcommon import procs, runner, state
from kilda_lab import bootstrap, catalogue, kafka, zkauth


def add_arguments(parser):
    parser.add_argument("--env", required=True, help="colour of the topologies, northbound and grpc (blue, green)")
    parser.add_argument("--zk", required=True, help="ZooKeeper connect string (host:port,...)")
    parser.add_argument("--prefix", default="/kilda", help="Kilda's chroot (must exist unless --bootstrap)")
    parser.add_argument("--regions", default="", help="comma-separated Floodlight regions to run (e.g. 1,2,1.stats)")
    parser.add_argument("--no-topologies", action="store_true", help="run only the Floodlight regions")
    parser.add_argument("--no-services", action="store_true", help="do not run northbound and grpc")
    parser.add_argument("--run-id-apps", action="store_true", help="also run the server42 apps and func_test")
    parser.add_argument("--bootstrap", action="store_true", help="create chroot and nodes like Kilda's ZK container")
    parser.add_argument("--build-version", default=catalogue.DEFAULT_BUILD_VERSION, help="value used by --bootstrap")
    parser.add_argument("--hang", action="append", default=[], help="component (or component@env) that hangs")
    parser.add_argument("--drain-ms", type=int, default=200, help="longest in-flight operation a hub drains")
    # Kilda's ZkClient.DEFAULT_SESSION_TIMEOUT (src-java/blue-green/.../bluegreen/ZkClient.java); the ensemble may
    # grant less (ZooKeeper caps sessions at 20 ticks: 10 s on the test ensemble).
    parser.add_argument("--session-timeout", type=float, default=30.0, help="ZooKeeper session timeout of each component (s)")
    parser.add_argument("--zk-in-order", action="store_true",
                        help="components try the servers of --zk in the order given instead of a random one first "
                             "(so a test knows which server each is on)")
    parser.add_argument("--kafka", action="store_true", help="also run a Kafka-protocol broker (member 'kafka')")
    parser.add_argument("--zk-auth", metavar="USER:PASSWORD",
                        help="digest-authenticate every client and protect every node the lab creates with a digest ACL")
    parser.add_argument("--containers", action="store_true", help="run each member in a container (Docker, or podman's Docker API)")
    parser.add_argument("--timeout", type=float, default=60.0)


def _members(args):
    regions = [r for r in args.regions.split(",") if r]
    members = {}
    if not args.no_topologies:
        members["topologies-%s" % args.env] = ["%s:%s:topology" % (n, args.env) for n in catalogue.TOPOLOGIES]
    if not args.no_services:
        for name in catalogue.VERSION_ONLY_BY_COLOUR:
            members["%s-%s" % (name, args.env)] = ["%s:%s:version" % (name, args.env)]
    for region in regions:
        members["floodlight-%s" % region] = ["floodlight:%s:floodlight" % region]
    if args.run_id_apps:
        members["run-id-apps"] = ["%s:%s:version" % item for item in catalogue.RUN_ID_APPS.items()]
    return members, regions


def up(args, workdir):
    workdir = os.path.abspath(workdir)
    members, regions = _members(args)
    hang_dir = os.path.join(workdir, "hang")
    report_dir = os.path.join(workdir, "sim")
    os.makedirs(hang_dir, exist_ok=True)
    os.makedirs(report_dir, exist_ok=True)
    for name in args.hang:
        open(os.path.join(hang_dir, name), "w").close()
    env = {}
    if args.zk_auth:
        zkauth.parse(args.zk_auth)
        env[zkauth.ENV] = args.zk_auth
    if args.bootstrap:
        bootstrap.bootstrap(args.zk, args.prefix, args.env, regions, args.build_version, args.run_id_apps,
                            auth=args.zk_auth)
    data = {"lab": "kilda", "workdir": workdir, "env": args.env, "zk": args.zk, "prefix": args.prefix,
            "regions": regions, "hang_dir": hang_dir, "report_dir": report_dir, "members": {},
            "zk_auth_user": zkauth.parse(args.zk_auth)[0] if args.zk_auth else None}
    for name, components in sorted(members.items()):
        report = os.path.join(report_dir, "%s.json" % name)
        _forget_ready(report)  # a workdir used before still holds the last lab's
        argv = procs.python_argv("kilda_lab.sim", "--zk", args.zk, "--prefix", args.prefix, "--member", name,
                                 "--report", report, "--hang-dir", hang_dir, "--drain-ms", args.drain_ms,
                                 "--session-timeout", args.session_timeout, *(["--zk-in-order"] if args.zk_in_order else []),
                                 *sum((["--component", c] for c in components), []))
        handle = runner.start(name, argv, workdir, env=env, containers=args.containers)
        handle["report"] = report
        data["members"][name] = handle
        state.save(workdir, data)
    try:
        if args.kafka:
            port = procs.free_port()
            argv = kafka.broker_argv(kafka.broker_binary(workdir), port)
            data["members"]["kafka"] = runner.start("kafka", argv, workdir, containers=args.containers)
            data["kafka"] = "127.0.0.1:%d" % port
            state.save(workdir, data)
            procs.wait_port("127.0.0.1", port, timeout=args.timeout)
        for handle in data["members"].values():
            if "report" in handle:
                _wait_ready(handle, args.timeout)
    except BaseException:
        down(workdir)  # labctl keeps no lab behind when up fails
        state.remove(workdir)
        raise
    return status(workdir)


def _forget_ready(report):
    """A simulator writes its .ready file once, at start-up: the one we wait for must be new."""
    try:
        os.unlink(report + ".ready")
    except FileNotFoundError:
        pass


def _wait_ready(handle, timeout):
    ready = handle["report"] + ".ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(ready):
            return
        if not runner.alive(handle):
            raise SystemExit("kilda lab: member %s died during start-up (see logs/%s.log)" % (handle["name"], handle["name"]))
        time.sleep(0.05)
    raise SystemExit("kilda lab: member %s not ready within %.0fs" % (handle["name"], timeout))


def _read_report(handle):
    if "report" not in handle:
        return None
    try:
        with open(handle["report"]) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def status(workdir):
    data = state.load(workdir)
    members = []
    for name, handle in sorted(data["members"].items()):
        report = _read_report(handle)
        members.append({"name": name, "alive": runner.alive(handle), "runner": handle.get("mode"),
                        "components": report["components"] if report else []})
    return {"lab": "kilda", "workdir": data["workdir"], "env": data["env"], "zk": data["zk"],
            "prefix": data["prefix"], "regions": data["regions"], "hang_dir": data["hang_dir"], "members": members,
            "kafka": data.get("kafka"), "zk_auth_user": data.get("zk_auth_user")}


def fault(action, name, workdir):
    data = state.load(workdir)
    handle = data["members"].get(name)
    if handle is None:
        raise SystemExit("kilda lab: no member %r (members: %s)" % (name, ", ".join(sorted(data["members"]))))
    restarting = action in ("start", "restart")
    if restarting and "report" in handle:
        _forget_ready(handle["report"])
    data["members"][name] = runner.apply_fault(action, handle, workdir)
    if restarting:
        state.save(workdir, data)
        if "report" in handle:
            _wait_ready(data["members"][name], 60.0)
    out = status(workdir)
    out["fault"] = {"action": action, "target": name}
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
