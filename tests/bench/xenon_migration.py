"""Benchmark: Xenon migration against the lab, as ratios measured in one run.

1. raw POST throughput: documents created through the load balancer by 8 concurrent clients
   (this also seeds blue);
2. full migration throughput (xenon_migration's service: one MigrationTaskService task) as a
   ratio of (1);
3. a delta pass after 1% of the documents changed, as a fraction of the full pass (target <= 5%).

Run: python tests/bench/xenon_migration.py [--documents 10000]   (bounded: about a minute)
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
LABCTL = os.path.join(ROOT, "tests", "labs", "labctl")

from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.client import XenonConnection  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._xenon.migration import Migration  # noqa: E402


def labctl(*args):
    out = subprocess.run([sys.executable, LABCTL] + [str(a) for a in args], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out) if out.strip() else None


def post_all(url, count, workers=8):
    def batch(worker):
        with httpx.Client(timeout=30) as client:
            for i in range(worker, count, workers):
                response = client.post(url + "/core/examples", json={"name": "bench-%d" % i, "counter": i})
                response.raise_for_status()

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(batch, range(workers)))
    return time.monotonic() - start


def migrate(lab):
    params = {"source_node_group": lab["blue"]["node_group"], "destination_node_group": lab["green"]["node_group"],
              "factories": ["/core/examples"], "wait": True, "wait_timeout": 60, "poll_interval": 0.02}
    connection = XenonConnection(lab["green"]["nodes"][0]["url"])
    try:
        start = time.monotonic()
        result = Migration(connection, params).run()
        return time.monotonic() - start, result
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=10000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="zdt-bench-xenon-")
    lab = labctl("up", "xenon", "--blue", 2, "--green", 2, "--green-idempotent-post", "--workdir", workdir)
    try:
        lb = lab["load_balancer"]["url"]
        post_seconds = post_all(lb, args.documents)
        full_seconds, full = migrate(lab)
        assert full["documents_moved"] == args.documents, full["factories"]

        links = httpx.get(lab["blue"]["nodes"][0]["url"] + "/core/examples", timeout=30).json()["documentLinks"]
        changed = links[:max(1, args.documents // 100)]
        with httpx.Client(timeout=30) as client:
            for link in changed:
                client.patch(lb + link, json={"counter": -1}).raise_for_status()
        delta_seconds, delta = migrate(lab)
        assert delta["documents_moved"] == len(changed), delta["factories"]

        post_rate = args.documents / post_seconds
        full_rate = args.documents / full_seconds
        fraction = delta_seconds / full_seconds
        print("documents: %d (2 blue -> 2 green nodes, green factory IDEMPOTENT_POST)" % args.documents)
        print("raw POST through HAProxy: %.0f docs/s (%.2fs)" % (post_rate, post_seconds))
        print("full migration:           %.0f docs/s (%.2fs) = %.2fx raw POST throughput" % (
            full_rate, full_seconds, full_rate / post_rate))
        print("delta pass after 1%% (%d docs changed): %.3fs = %.1f%% of the full pass (target <= 5%%): %s" % (
            len(changed), delta_seconds, 100 * fraction, "OK" if fraction <= 0.05 else "ABOVE TARGET"))
    finally:
        labctl("down", "--workdir", workdir)


if __name__ == "__main__":
    main()
