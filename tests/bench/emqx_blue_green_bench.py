"""Benchmark: how close an EMQX blue-green drain comes to the limit the reconnect budget allows.

For the same lab (3 blue -> 3 green), the same number of real MQTT clients and the same total
reconnect budget, it runs the emqx_blue_green playbook twice in one go:
  * parallel   - every blue node drains at once, the budget split in proportion to connections
  * sequential - one node after the other at the full budget (the EMQX Operator's order)
and prints each drain time as a ratio to the theoretical minimum measured in the same run
(connections / reconnect budget + wait_health_check + wait_takeover) and to the minimum at the
eviction rate the burst margin leaves, the highest one-second reconnect peak the clients saw
against the budget, and parallel vs sequential.

    python tests/bench/emqx_blue_green_bench.py [--clients 1000] [--budget 50]
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


def labctl(*args):
    out = subprocess.run([sys.executable, os.path.join(LABS, "labctl")] + [str(a) for a in args], check=True, text=True,
                         stdout=subprocess.PIPE, timeout=300)
    return json.loads(out.stdout) if out.stdout.strip() else None


def one_run(strategy, clients, budget, waits):
    workdir = tempfile.mkdtemp(prefix="zdt-bench-")
    description = labctl("up", "emqx", "--blue", 3, "--green", 3, "--workdir", workdir)
    load = None
    try:
        ready = os.path.join(workdir, "ready")
        out = os.path.join(workdir, "load.json")
        load = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "emqx_lab.load", "--port", str(description["lb"]["mqtt_port"]), "--clients", str(clients),
             "--rate", "50", "--max-runtime", "600", "--out", out, "--ready-file", ready],
            cwd=LABS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while not os.path.exists(ready):
            if load.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: clients did not connect")
            time.sleep(0.5)
        emqx_bluegreen.wait_for_clients(description, clients)
        report_dir = os.path.join(workdir, "report")
        inventory, evars = emqx_bluegreen.write_inputs(
            description, workdir, report_dir, emqx_blue_green_strategy=strategy, emqx_blue_green_reconnect_budget=budget,
            emqx_blue_green_session_budget=budget, emqx_blue_green_wait_health_check=waits, emqx_blue_green_wait_takeover=waits,
            emqx_blue_green_soak_seconds=2, emqx_blue_green_poll_interval=1)
        run = emqx_bluegreen.playbook("emqx_blue_green.yml", inventory, evars, timeout=1200)
        load.send_signal(signal.SIGTERM)
        load.wait(timeout=120)
        if run.returncode != 0:
            raise SystemExit("bench: the %s playbook failed:\n%s" % (strategy, run.stdout[-3000:]))
        with open(os.path.join(report_dir, "report.json")) as handle:
            report = json.load(handle)
        with open(out) as handle:
            users = json.load(handle)
        return report, users
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        labctl("down", "--workdir", workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=50, help="total reconnects per second")
    parser.add_argument("--waits", type=int, default=3, help="wait_health_check and wait_takeover, seconds")
    args = parser.parse_args()
    rows = {}
    for strategy in ("parallel", "sequential"):
        report, users = one_run(strategy, args.clients, args.budget, args.waits)
        minimum = report["plan"]["theoretical_minimum_s"]
        rows[strategy] = {"drain_s": float(report["drain_s"]), "minimum_s": float(minimum),
                          "predicted_s": float(report["plan"]["predicted_s"]),
                          "ratio": float(report["drain_s"]) / float(minimum), "connections": report["plan"]["total_connections"],
                          "sessions_lost": users["sessions_lost"], "messages_lost": users["messages_lost"],
                          "peak_reconnects_per_s": users["peak_reconnects_per_s"],
                          "peak_vs_budget": users["peak_reconnects_per_s"] / float(args.budget),
                          "eviction_rate": report["plan"].get("eviction_rate")}
    print("EMQX blue-green drain, %d clients, 3 blue -> 3 green, reconnect budget %d/s, waits %ds + %ds"
          % (args.clients, args.budget, args.waits, args.waits))
    for strategy, row in rows.items():
        figures = (strategy, row["drain_s"], row["minimum_s"], row["ratio"], row["eviction_rate"], row["peak_reconnects_per_s"],
                   row["peak_vs_budget"], row["sessions_lost"], row["messages_lost"])
        print("  %-10s drain %6.1f s  theoretical minimum %5.1f s  ratio %.3f  evicting %s/s  peak %s reconnects/s = %.2f x budget  "
              "(sessions lost %s, messages lost %s)" % figures)
    speedup = rows["sequential"]["drain_s"] / rows["parallel"]["drain_s"]
    ratio = rows["parallel"]["ratio"]
    # The theoretical minimum moves every connection at the full budget; the burst margin evicts
    # below it so that no second exceeds the budget. The plan's prediction is the minimum at that rate.
    planned = rows["parallel"]["drain_s"] / rows["parallel"]["predicted_s"]
    print("  parallel / theoretical minimum: %.3f; / minimum at the eviction rate: %.3f (target <= 1.15: %s)"
          % (ratio, planned, "met" if planned <= 1.15 else "NOT met"))
    peak = max(row["peak_vs_budget"] for row in rows.values())
    print("  highest one-second reconnect peak / budget: %.2f (target <= 1.0: %s)" % (peak, "met" if peak <= 1.0 else "NOT met"))
    print("  sequential (operator order) / parallel: %.2fx (target > 1: %s)" % (speedup, "met" if speedup > 1 else "NOT met"))
    print(json.dumps(rows, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
