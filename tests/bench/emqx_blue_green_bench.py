"""Benchmark: how close an EMQX blue-green drain comes to the limit the reconnect budget allows.

For the same lab (3 blue -> 3 green), the same number of real MQTT clients and the same total
reconnect budget, it runs the emqx_blue_green playbook three times in one go:
  * parallel   - the role as it ships: every blue node drains at once, the budget split in
                 proportion to connections, the load balancers holding the reconnects to the budget
  * margin     - the same without the load balancers' limit (emqx_blue_green_haproxy_rate_limit
                 false): the burst margin keeps the eviction rate under the budget instead
  * sequential - one node after the other at the full budget, nothing holding the reconnects
                 (the EMQX Operator's order: it evicts at the rate it is given)
and prints each drain time as a ratio to the theoretical minimum measured in the same run
(connections / reconnect budget + wait_health_check + wait_takeover), the highest one-second
reconnect peak the clients saw against the budget, sequential vs parallel, and the controller's
CPU seconds per observation of the drain.

10,000 clients by default (the seed's Grafana figure), half MQTT 5 and half 3.1.1, each a
persistent session subscribed QoS 1, with the QoS 1 publisher running. One HAProxy holds two
descriptors per client and the lab cannot raise the open-files limit, so past what one balancer
can hold the lab runs a pair side by side, the clients spread over both, and the role confirms
and changes both (emqx_blue_green_haproxy_sockets).

    python tests/bench/emqx_blue_green_bench.py [--clients 10000] [--budget 500] [--load-balancers N]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABS = os.path.join(ROOT, "tests", "labs")
sys.path.insert(0, LABS)

import emqx_bluegreen  # noqa: E402  pylint: disable=wrong-import-position
from emqx_lab import haproxy  # noqa: E402  pylint: disable=wrong-import-position


def labctl(*args):
    out = subprocess.run([sys.executable, os.path.join(LABS, "labctl")] + [str(a) for a in args], check=True, text=True,
                         stdout=subprocess.PIPE, timeout=300)
    return json.loads(out.stdout) if out.stdout.strip() else None


def balancers_for(clients):
    """Enough balancers for every client with a tenth to spare (the probes, the reconnects in flight)."""
    per_balancer = haproxy.max_connections() * 9 // 10
    return max(1, -(-clients // per_balancer))


RUNS = {  # name: (strategy, the load balancers limit the reconnects, burst margin)
    "parallel": ("parallel", True, 3),
    "margin": ("parallel", False, 3),
    "sequential": ("sequential", False, 0),  # the operator evicts at the rate it is given
}


def one_run(name, clients, budget, waits, balancers, keep=False):
    strategy, lb_limit, margin = RUNS[name]
    workdir = tempfile.mkdtemp(prefix="zdt-bench-")
    description = labctl("up", "emqx", "--blue", 3, "--green", 3, "--load-balancers", balancers, "--workdir", workdir)
    load = None
    try:
        ready = os.path.join(workdir, "ready")
        out = os.path.join(workdir, "load.json")
        ports = ",".join(str(lb["mqtt_port"]) for lb in description["load_balancers"])
        load = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "emqx_lab.load", "--port", ports, "--clients", str(clients),
             "--rate", "50", "--connect-rate", "500", "--max-runtime", "900", "--out", out, "--ready-file", ready],
            cwd=LABS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60 + clients / 100
        while not os.path.exists(ready):
            if load.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: clients did not connect")
            time.sleep(0.5)
        emqx_bluegreen.wait_for_clients(description, clients)
        report_dir = os.path.join(workdir, "report")
        inventory, evars = emqx_bluegreen.write_inputs(
            description, workdir, report_dir, emqx_blue_green_strategy=strategy, emqx_blue_green_reconnect_budget=budget,
            emqx_blue_green_session_budget=budget, emqx_blue_green_wait_health_check=waits, emqx_blue_green_wait_takeover=waits,
            emqx_blue_green_soak_seconds=2, emqx_blue_green_poll_interval=1, emqx_blue_green_haproxy_rate_limit=lb_limit,
            emqx_blue_green_burst_margin=margin)
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars, timeout=1200)
        with open(os.path.join(workdir, "playbook.log"), "w") as handle:
            handle.write(run.stdout or "")
        load.send_signal(signal.SIGTERM)
        load.wait(timeout=120)
        if run.returncode != 0:
            raise SystemExit("bench: the %s playbook failed:\n%s" % (name, run.stdout[-3000:]))
        with open(os.path.join(report_dir, "report.json")) as handle:
            report = json.load(handle)
        with open(out) as handle:
            users = json.load(handle)
        return report, users
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        labctl("down", "--workdir", workdir)
        if keep:
            print("bench: %s run kept in %s" % (name, workdir), file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--budget", type=int, default=500, help="total reconnects per second")
    parser.add_argument("--keep", action="store_true", help="keep each run's lab directory (logs, reports) for a look")
    parser.add_argument("--load-balancers", type=int, default=None,
                        help="HAProxy instances side by side (default: as many as the clients need here)")
    parser.add_argument("--waits", type=int, default=3, help="wait_health_check and wait_takeover, seconds")
    args = parser.parse_args()
    balancers = args.load_balancers or balancers_for(args.clients)
    rows = {}
    for name in RUNS:
        report, users = one_run(name, args.clients, args.budget, args.waits, balancers, args.keep)
        minimum = report["plan"]["theoretical_minimum_s"]
        waits = [w for w in report.get("drain_waits", []) if w.get("cpu_seconds_per_observation") is not None]
        observations = sum(w["observations"] for w in waits)
        cpu = sum(w["cpu_seconds_per_observation"] * w["observations"] for w in waits)
        rows[name] = {"drain_s": float(report["drain_s"]), "minimum_s": float(minimum),
                      "ratio": float(report["drain_s"]) / float(minimum), "connections": report["plan"]["total_connections"],
                      "sessions_lost": users["sessions_lost"], "messages_lost": users["messages_lost"],
                      "peak_reconnects_per_s": users["peak_reconnects_per_s"],
                      "peak_vs_budget": users["peak_reconnects_per_s"] / float(args.budget),
                      "eviction_rate": report["plan"].get("eviction_rate"), "lb_session_limit": report["plan"].get("lb_session_limit"),
                      "observations": observations,
                      "cpu_s_per_observation": cpu / observations if observations else None,
                      "clients_connected_at_stop": users.get("connected")}
    print("EMQX blue-green drain, %d clients through %d HAProxy, 3 blue -> 3 green, reconnect budget %d/s, waits %ds + %ds"
          % (args.clients, balancers, args.budget, args.waits, args.waits))
    for name, row in rows.items():
        figures = (name, row["drain_s"], row["minimum_s"], row["ratio"], row["eviction_rate"],
                   ("load balancers admitting %s/s" % row["lb_session_limit"]) if row["lb_session_limit"] else "no load balancer limit",
                   row["peak_reconnects_per_s"], row["peak_vs_budget"], row["sessions_lost"], row["messages_lost"])
        print("  %-10s drain %6.1f s  theoretical minimum %5.1f s  ratio %.3f  evicting %s/s, %s  peak %s reconnects/s = %.2f x budget  "
              "(sessions lost %s, messages lost %s)" % figures)
    ratio = rows["parallel"]["ratio"]
    peak = rows["parallel"]["peak_vs_budget"]
    print("  role's drain / theoretical minimum: %.3f (target <= 1.10: %s)" % (ratio, "met" if ratio <= 1.10 else "NOT met"))
    print("  role's highest one-second reconnect peak / budget: %.2f (target <= 1.0: %s)" % (peak, "met" if peak <= 1.0 else "NOT met"))
    print("  without the load balancers' limit (burst margin only): drain / minimum %.3f, peak / budget %.2f"
          % (rows["margin"]["ratio"], rows["margin"]["peak_vs_budget"]))
    speedup = rows["sequential"]["drain_s"] / rows["parallel"]["drain_s"]
    print("  sequential (operator order): drain / minimum %.3f, peak / budget %.2f; its drain / the role's: %.2fx (target > 1: %s)"
          % (rows["sequential"]["ratio"], rows["sequential"]["peak_vs_budget"], speedup, "met" if speedup > 1 else "NOT met"))
    for name, row in rows.items():
        if row["cpu_s_per_observation"] is not None:
            print("  %s: controller CPU %.4f s per observation over %d observations"
                  % (name, row["cpu_s_per_observation"], row["observations"]))
    lost = sum(row["sessions_lost"] + row["messages_lost"] for row in rows.values())
    print("  sessions and QoS 1 messages lost: %d (target 0: %s)" % (lost, "met" if lost == 0 else "NOT met"))
    print(json.dumps(rows, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
