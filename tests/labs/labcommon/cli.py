"""Argument parsing and dispatch for ``labctl``."""
import argparse
import importlib
import inspect
import json
import os
import sys

from labcommon import ports, state

LABS = ("emqx", "zookeeper", "kilda", "xenon", "k8s")


def _lab_module(name):
    try:
        return importlib.import_module("%s_lab" % name)
    except ImportError as exc:
        raise SystemExit("labctl: lab %r is not available here (%s)" % (name, exc))


def build_parser(labs=LABS):
    """The parser; ``up``'s options are those of ``labs`` (importing a lab costs more than the rest of a
    ``labctl`` call, and the suite calls it hundreds of times)."""
    parser = argparse.ArgumentParser(prog="labctl", description="Start, describe, fault and stop test labs.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start a lab and print its JSON description")
    up_sub = up.add_subparsers(dest="lab", required=True)
    for name in LABS:
        if name not in labs:
            up_sub.add_parser(name).set_defaults(reparse=True)
            continue
        lab_parser = up_sub.add_parser(name)
        lab_parser.add_argument("--workdir", required=True)
        try:
            module = importlib.import_module("%s_lab" % name)
        except ImportError as exc:
            # keep the other labs usable, but say why this one has no options (often: not the venv's python)
            lab_parser.description = "unavailable: %s" % exc
            lab_parser.set_defaults(unavailable=str(exc))
            continue
        module.add_arguments(lab_parser)

    for name in ("status", "down"):
        p = sub.add_parser(name)
        p.add_argument("--workdir", required=True)

    fault = sub.add_parser("fault", help="inject a fault into a running lab")
    fault.add_argument("action", choices=("kill", "restart", "stop", "start", "api-error", "partition", "heal",
                                          "pause", "unpause", "delay"),
                       help="api-error: the member keeps running but its management API answers 503 for --seconds; "
                            "partition: the member keeps running, cut off the lab network (labs started with "
                            "--containers --network); heal: back on it; pause: the member is frozen (SIGSTOP, or the "
                            "container engine's pause), its connections open and unanswered; unpause: it goes on; "
                            "delay: every packet the member sends leaves MS milliseconds late (0: on time again)")
    fault.add_argument("target", help="name of a lab member, as listed by status")
    fault.add_argument("ms", nargs="?", type=float, help="the delay, for delay")
    fault.add_argument("--from", dest="peers", default="",
                       help="partition: cut the member off these members only (names separated by commas; a member on "
                            "the host's network, such as haproxy, stands for the host)")
    fault.add_argument("--seconds", type=float, default=10.0, help="how long an api-error lasts")
    fault.add_argument("--workdir", required=True)
    return parser


def link_fault(args):
    """partition --from, delay, and the link half of heal, the same in every lab (labcommon.links)."""
    from labcommon import containers, links, runner

    data = state.load(args.workdir)
    members = data.get("members") or {}
    handle = members[runner.member_key(members, args.target)]
    if not handle.get("network") or not runner.alive(handle):
        if args.action == "heal":
            return
        raise SystemExit("labctl: %s is not a running member of a lab network; link faults need a lab started with "
                         "--containers --network" % args.target)
    pid = containers.pid_of(handle["container"])
    if args.action == "heal":
        links.clear(pid, handle.get("delay_pid"))
        runner.forget_links(handle)
    elif args.action == "delay":
        if args.ms is None or args.ms < 0:
            raise SystemExit("labctl: delay needs the milliseconds, 0 or more (labctl fault delay NAME MS)")
        links.unslow(pid, handle.pop("delay_pid", None))
        handle.pop("delay_ms", None)
        if args.ms > 0:
            log = os.path.join(os.path.abspath(args.workdir), "logs", "%s-delay.log" % handle["name"])
            os.makedirs(os.path.dirname(log), exist_ok=True)
            handle.update(delay_ms=args.ms, delay_pid=links.slow(pid, args.ms, log))
    else:
        gateway = data["network"]["subnet"].rsplit(".", 1)[0] + ".1"
        names = [runner.member_key(members, name.strip()) for name in args.peers.split(",") if name.strip()]
        links.cut(pid, sorted({members[name].get("address") or gateway for name in names}))
        handle["cut_from"] = sorted(set(handle.get("cut_from", [])) | set(names))
    state.save(args.workdir, data)


def _labs_named(argv):
    """The one lab an ``up`` command names, or none for any other command."""
    if len(argv) > 1 and argv[0] == "up" and argv[1] in LABS:
        return (argv[1],)
    return ()


def main(argv):
    args, unknown = build_parser(_labs_named(argv)).parse_known_args(argv)
    if getattr(args, "reparse", False):  # help or an unusual order of arguments: every lab's options
        args, unknown = build_parser().parse_known_args(argv)
    if getattr(args, "unavailable", None):
        raise SystemExit("labctl: lab %r cannot be loaded: %s (run labctl with the project's venv python)"
                         % (args.lab, args.unavailable))
    if unknown:
        build_parser(_labs_named(argv) or LABS).parse_args(argv)  # the usual argparse error for options no lab knows
    if args.command == "up":
        if state.exists(args.workdir):
            raise SystemExit("labctl: %s already holds a lab; run 'labctl down' first" % args.workdir)
        ports.set_owner(args.workdir)
        try:
            description = _lab_module(args.lab).up(args, args.workdir)
        except BaseException:
            ports.release(args.workdir)  # a failed up keeps no lab, so it keeps no port either
            raise
    else:
        lab = state.load(args.workdir).get("lab")
        module = _lab_module(lab)
        if args.command == "status":
            description = module.status(args.workdir)
        elif args.command == "fault":
            if args.action == "delay" or (args.action == "partition" and args.peers):
                link_fault(args)
                description = module.status(args.workdir)
            elif args.action == "api-error":
                if "seconds" not in inspect.signature(module.fault).parameters:
                    raise SystemExit("labctl: the %s lab has no api-error fault" % lab)
                description = module.fault(args.action, args.target, args.workdir, seconds=args.seconds)
            else:
                if args.action == "heal":
                    link_fault(args)
                description = module.fault(args.action, args.target, args.workdir)
        else:
            module.down(args.workdir)
            # sweep containers a crashed 'up' may have left behind (no-op where no member ran as a container)
            from labcommon import containers

            containers.remove_all(args.workdir)
            state.remove(args.workdir)
            ports.release(args.workdir)
            return 0
    json.dump(description, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0
