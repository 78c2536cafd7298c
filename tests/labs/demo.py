"""make demo: upgrade a 3 blue -> 3 green EMQX lab cluster under 1,000 live MQTT clients with the
emqx_blue_green playbook, then print what users felt and write the report with its picture.

Everything runs on loopback; the lab is stopped at the end whatever happens."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

import emqx_bluegreen  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx.report import connections_svg  # noqa: E402  pylint: disable=wrong-import-position


def labctl(*args):
    out = subprocess.run([sys.executable, os.path.join(HERE, "labctl")] + list(args), check=True, text=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout) if out.stdout.strip() else None


def start_load(description, workdir, clients, rate):
    ready = os.path.join(workdir, "load.ready")
    out = os.path.join(workdir, "load.json")
    argv = [sys.executable, "-m", "emqx_lab.load", "--host", description["lb"]["mqtt_host"], "--port", str(description["lb"]["mqtt_port"]),
            "--clients", str(clients), "--rate", str(rate), "--max-runtime", "900", "--out", out, "--ready-file", ready,
            "--api-url", description["nodes"][0]["api_url"], "--api-key", description["credentials"]["api_key"],
            "--api-secret", description["credentials"]["api_secret"]]
    log = open(os.path.join(workdir, "load.log"), "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(argv, cwd=HERE, stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    deadline = time.monotonic() + 180
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("demo: the load generator did not get %d clients subscribed (see %s)" % (clients, log.name))
        time.sleep(0.5)
    return proc, out


def stop_load(proc, out):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    with open(out) as handle:
        return json.load(handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "demo"))
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=200, help="total reconnects per second")
    parser.add_argument("--rate", type=int, default=100, help="QoS 1 messages per second during the upgrade")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    workdir = os.path.join(args.out, "lab")
    if os.path.exists(os.path.join(workdir, "lab.json")):
        labctl("down", "--workdir", workdir)
    os.makedirs(workdir, exist_ok=True)
    report_dir = os.path.join(args.out, "report")
    for stale in ("journal.json", "report.json", "connections.svg", "summary.json"):
        if os.path.exists(os.path.join(report_dir, stale)):
            os.unlink(os.path.join(report_dir, stale))

    print("== starting the lab: 3 blue nodes (5.8.6) running, 3 green nodes (5.10.4) defined, HAProxy, mosquitto")
    description = labctl("up", "emqx", "--blue", "3", "--green", "3", "--workdir", workdir)
    try:
        print("== connecting %d MQTT clients (persistent sessions, MQTT 5 and 3.1.1) through HAProxy" % args.clients)
        load, load_out = start_load(description, workdir, args.clients, args.rate)
        emqx_bluegreen.wait_for_clients(description, args.clients)
        print("== running playbooks/emqx_blue_green.yml (reconnect budget %d/s)" % args.budget)
        inventory, evars = emqx_bluegreen.write_inputs(description, workdir, report_dir, emqx_blue_green_reconnect_budget=args.budget,
                                                       emqx_blue_green_session_budget=args.budget)
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars, capture=False)
        users = stop_load(load, load_out)
    finally:
        labctl("down", "--workdir", workdir)

    report_path = os.path.join(report_dir, "report.json")
    if run.returncode != 0 or not os.path.exists(report_path):
        print("demo: the playbook failed (exit %s); see the output above" % run.returncode, file=sys.stderr)
        return 1
    with open(report_path) as handle:
        report = json.load(handle)
    summary = {
        "outcome": report["outcome"],
        "clients": users.get("clients"),
        "sessions_lost": users.get("sessions_lost"),
        "messages_sent": users.get("messages_sent"),
        "messages_lost": users.get("messages_lost"),
        "duplicates": users.get("duplicates"),
        "peak_reconnects_per_s": users.get("peak_reconnects_per_s"),
        "peak_disconnected": users.get("peak_disconnected"),
        "reconnect_budget": report["reconnect_budget"],
        "eviction_rate": report["plan"].get("eviction_rate"),
        "lb_session_limit": report["plan"].get("lb_session_limit"),
        "peak_vs_budget": round(users.get("peak_reconnects_per_s", 0) / float(report["reconnect_budget"]), 2),
        "drain_s": report["drain_s"],
        "theoretical_minimum_s": report["plan"].get("theoretical_minimum_s"),
        "drain_vs_minimum": report["drain_vs_minimum"],
        "upgrade_s": report["duration_s"],
        "gate": report["gate"],
    }
    with open(os.path.join(report_dir, "summary.json"), "w") as handle:
        json.dump({"summary": summary, "report": report, "clients": users}, handle, indent=2)
    colours = {n: ("blue" if n in report["blue_nodes"] else "green") for n in report["blue_nodes"] + report["green_nodes"]}
    notes = [
        "outcome: %s in %s s; %s clients, %s messages published during the upgrade" % (
            report["outcome"], report["duration_s"], users.get("clients"), users.get("messages_sent")),
        "sessions lost: %s, QoS 1 messages lost: %s, duplicates: %s" % (
            users.get("sessions_lost"), users.get("messages_lost"), users.get("duplicates")),
        "drain %s s vs theoretical minimum %s s (%sx), evicting %s/s%s; peak %s reconnects/s against a budget of %s/s" % (
            report["drain_s"], summary["theoretical_minimum_s"], report["drain_vs_minimum"], report["plan"].get("eviction_rate"),
            (", load balancer admitting %s/s" % summary["lb_session_limit"]) if summary["lb_session_limit"] else "",
            users.get("peak_reconnects_per_s"), args.budget),
    ]
    with open(os.path.join(report_dir, "connections.svg"), "w") as handle:
        handle.write(connections_svg(report["samples"], colours, "EMQX blue-green upgrade: connections per node", notes))
    print("\n== summary")
    for key, value in summary.items():
        print("  %-22s %s" % (key, value))
    print("\nreport: %s\npicture: %s" % (os.path.join(report_dir, "summary.json"), os.path.join(report_dir, "connections.svg")))
    lost = (users.get("sessions_lost") or 0) + (users.get("messages_lost") or 0)
    return 0 if report["outcome"] == "upgraded" and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
