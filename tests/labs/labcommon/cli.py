"""Argument parsing and dispatch for ``labctl``."""
import argparse
import importlib
import inspect
import json
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
                                          "pause", "unpause"),
                       help="api-error: the member keeps running but its management API answers 503 for --seconds; "
                            "partition: the member keeps running, cut off the lab network (labs started with "
                            "--containers --network); heal: back on it; pause: the member is frozen (SIGSTOP, or the "
                            "container engine's pause), its connections open and unanswered; unpause: it goes on")
    fault.add_argument("target", help="name of a lab member, as listed by status")
    fault.add_argument("--seconds", type=float, default=10.0, help="how long an api-error lasts")
    fault.add_argument("--workdir", required=True)
    return parser


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
            if args.action == "api-error":
                if "seconds" not in inspect.signature(module.fault).parameters:
                    raise SystemExit("labctl: the %s lab has no api-error fault" % lab)
                description = module.fault(args.action, args.target, args.workdir, seconds=args.seconds)
            else:
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
