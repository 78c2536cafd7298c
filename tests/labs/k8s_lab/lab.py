"""labctl entry points of the Kubernetes lab."""
import argparse
import base64
import json
import os
import secrets

import emqx_lab
from k8s_lab import builtin_kinds, tls
from labcommon import procs, runner, state

HOST = "127.0.0.1"
CONTEXT = "zdt-lab"
MEMBER = "apiserver"
OPERATOR = "operator"
EMQX_DIR = "emqx"


def add_arguments(parser):
    parser.add_argument("--namespace", default="default", help="namespace written into the kubeconfig context")
    parser.add_argument("--containers", action="store_true", help="run the API server in a container (Docker, or podman's Docker API)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the API server")
    parser.add_argument("--emqx-blue", type=int, default=0,
                        help="also start an EMQX lab with this many running nodes and the operator simulator (0: neither)")
    parser.add_argument("--emqx-green", type=int, default=0, help="stopped extra nodes of that EMQX lab (scale-out)")
    parser.add_argument("--operator-interval", type=float, default=0.5, help="seconds between operator reconcile passes")
    parser.add_argument("--operator-ready-requeue", type=float, default=30.0,
                        help="seconds between the operator's passes over a Ready EMQX resource whose spec did not change "
                             "(upstream: 30; its status is that old)")
    parser.add_argument("--operator-version", default=builtin_kinds.DEFAULT_OPERATOR_VERSION,
                        help="image tag of the operator Deployment the API server serves (emqx-operator-system)")
    parser.add_argument("--emqx-replicants", type=int, default=0,
                        help="replicant nodes per colour in the EMQX lab (the listeners then reach replicants only)")


def _kubeconfig(server, token, namespace, cert):
    # JSON is valid YAML, so every kubeconfig reader takes this file.
    with open(cert, "rb") as handle:
        authority = base64.b64encode(handle.read()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": authority}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
    }


def up(args, workdir):
    workdir = os.path.abspath(workdir)
    port = procs.free_port(HOST)
    token = secrets.token_hex(16)
    server = "https://%s:%d" % (HOST, port)
    kubeconfig = os.path.join(workdir, "kubeconfig")
    os.makedirs(workdir, exist_ok=True)
    cert, key = tls.make_certificate(workdir, HOST)
    with open(kubeconfig, "w") as handle:
        json.dump(_kubeconfig(server, token, args.namespace, cert), handle, indent=2)
    os.chmod(kubeconfig, 0o600)
    argv = procs.python_argv("k8s_lab.apiserver", "--host", HOST, "--port", port, "--token", token,
                             "--data", os.path.join(workdir, "objects.json"), "--install-crds",
                             "--cert", cert, "--key", key, "--operator-version", args.operator_version)
    data = {"lab": "k8s", "workdir": workdir, "server": server, "port": port, "token": token, "ca_cert": cert,
            "namespace": args.namespace, "kubeconfig": kubeconfig, "members": {}}
    state.save(workdir, data)
    data["members"][MEMBER] = runner.start(MEMBER, argv, workdir, containers=args.containers)
    state.save(workdir, data)
    try:
        procs.wait_port(HOST, port, timeout=args.timeout, pid=data["members"][MEMBER].get("pid"))
        if args.emqx_blue > 0:
            _start_emqx(args, data)
    except BaseException:
        down(workdir)  # labctl keeps no lab behind when up fails
        state.remove(workdir)
        raise
    return status(workdir)


def _emqx_args(args, emqx_dir):
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir")
    emqx_lab.add_arguments(parser)
    argv = ["--workdir", emqx_dir, "--blue", str(args.emqx_blue), "--green", str(args.emqx_green),
            "--replicants", str(args.emqx_replicants)]
    if args.containers:
        argv.append("--containers")
    return parser.parse_args(argv)


def _start_emqx(args, data):
    """The EMQX lab the operator simulator drives, in DIR/emqx, and the operator itself."""
    workdir = data["workdir"]
    emqx_dir = os.path.join(workdir, EMQX_DIR)
    data["emqx_workdir"] = emqx_dir
    state.save(workdir, data)
    description = emqx_lab.up(_emqx_args(args, emqx_dir), emqx_dir)
    described = os.path.join(workdir, "emqx-description.json")
    with open(described, "w") as handle:
        json.dump(description, handle)
    argv = procs.python_argv("k8s_lab.operator", "--kubeconfig", data["kubeconfig"], "--emqx-description", described,
                             "--emqx-workdir", emqx_dir, "--state", os.path.join(workdir, "operator-state.json"),
                             "--interval", args.operator_interval, "--operator-version", args.operator_version,
                             "--ready-requeue", args.operator_ready_requeue)
    # the operator is a controller with a kubeconfig, as in a real cluster; it runs beside the API server
    data["members"][OPERATOR] = runner.start(OPERATOR, argv, workdir)
    state.save(workdir, data)


def status(workdir):
    data = state.load(workdir)
    handle = data["members"].get(MEMBER, {})
    members = [{"name": MEMBER, "host": HOST, "port": data["port"],
                "alive": runner.alive(handle) if handle else False, "runner": handle.get("mode")}]
    if OPERATOR in data["members"]:
        operator = data["members"][OPERATOR]
        members.append({"name": OPERATOR, "alive": runner.alive(operator), "runner": operator.get("mode")})
    return {
        "lab": "k8s",
        "workdir": data["workdir"],
        "emqx": emqx_lab.status(data["emqx_workdir"]) if data.get("emqx_workdir") and state.exists(data["emqx_workdir"]) else None,
        "kubeconfig": data["kubeconfig"],
        "context": CONTEXT,
        "server": data["server"],
        "api_key": data["token"],
        "ca_cert": data["ca_cert"],
        "namespace": data["namespace"],
        "members": members,
    }


def fault(action, name, workdir, seconds=10.0):
    data = state.load(workdir)
    handle = data["members"].get(name)
    if handle is None and data.get("emqx_workdir"):
        # anything else names a member of the EMQX lab (a node, haproxy, mosquitto)
        emqx_lab.fault(action, name, data["emqx_workdir"], seconds=seconds)
        return status(workdir)
    if action == "api-error":
        raise SystemExit("k8s lab: api-error needs an EMQX node, not %s" % name)
    if handle is None:
        raise SystemExit("k8s lab: no member %r (members: %s)" % (name, ", ".join(sorted(data["members"]))))
    data["members"][name] = runner.apply_fault(action, handle, workdir)
    if action in ("start", "restart"):
        state.save(workdir, data)
        if name == MEMBER:
            procs.wait_port(HOST, data["port"], timeout=30.0, pid=data["members"][name].get("pid"))
    return status(workdir)


def down(workdir):
    data = state.load(workdir)
    for name in (OPERATOR, MEMBER):
        if name in data["members"]:
            runner.stop(data["members"][name])
    emqx_dir = data.get("emqx_workdir")
    if emqx_dir and state.exists(emqx_dir):
        emqx_lab.down(emqx_dir)
        from labcommon import containers

        containers.remove_all(emqx_dir)
        state.remove(emqx_dir)
