"""A client that keeps creating and updating documents through the load balancer and records
every write it got an answer for (JSON lines), so a test can prove that no acknowledged write
was lost and no request failed while the maintenance window held traffic.

Each worker owns its documents and writes them one request at a time, so the last acknowledged
record of a selfLink is that document's expected final content.

CLI: python -m xenon_lab.writer --url LB --log FILE [--rate 20] [--max-seconds 900]
"""
import argparse
import json
import random
import signal
import threading
import time

import httpx


class Writer:
    def __init__(self, url, log_path, factory="/core/examples", rate=20.0, workers=2, username=None,
                 password=None, prefix="w", update_ratio=0.6, timeout=90.0, max_seconds=900.0):
        self.url = url.rstrip("/")
        self.log_path = log_path
        self.factory = factory
        self.interval = workers / float(rate)
        self.workers = workers
        self.prefix = prefix
        self.update_ratio = update_ratio
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.credentials = (username, password) if username else None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads = []
        self.counts = {"acked": 0, "failed": 0}

    def _headers(self, client):
        if not self.credentials:
            return {}
        response = client.post(self.url + "/core/authn/basic", json={"requestType": "LOGIN"}, auth=self.credentials)
        response.raise_for_status()
        return {"x-xenon-auth-token": response.headers["x-xenon-auth-token"]}

    def _record(self, handle, entry):
        with self.lock:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            self.counts["acked" if entry["ok"] else "failed"] += 1

    def _work(self, worker, handle):
        rng = random.Random(worker)
        mine = {}
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=self.timeout) as client:
            headers = self._headers(client)
            n = 0
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                if mine and rng.random() < self.update_ratio:
                    link = rng.choice(sorted(mine))
                    op, method, url = "update", "PATCH", self.url + link
                    body = {"counter": mine[link] + 1, "note": "w%d-%d" % (worker, n)}
                else:
                    n += 1
                    op, method, url = "create", "POST", self.url + self.factory
                    body = {"name": "%s-%d-%d" % (self.prefix, worker, n), "counter": 0,
                            "documentSelfLink": "%s-%d-%d" % (self.prefix, worker, n)}
                start = time.time()
                entry = {"op": op, "worker": worker, "start": start}
                try:
                    response = client.request(method, url, json=body, headers=headers)
                    entry.update(status=response.status_code, group=response.headers.get("x-lab-group"),
                                 node=response.headers.get("x-lab-node"), ok=response.status_code == 200)
                    if entry["ok"]:
                        doc = response.json()
                        entry["doc"] = doc
                        mine[doc["documentSelfLink"]] = doc["counter"]
                    else:
                        entry["error"] = response.text[:300]
                except httpx.HTTPError as exc:
                    entry.update(ok=False, status=None, error="%s: %s" % (type(exc).__name__, exc))
                entry["end"] = time.time()
                self._record(handle, entry)
                self.stop_event.wait(max(0.0, self.interval - (entry["end"] - start)))

    def start(self):
        handle = open(self.log_path, "a")
        self._handle = handle
        for worker in range(self.workers):
            thread = threading.Thread(target=self._work, args=(worker, handle), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self, timeout=120.0):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        self._handle.close()
        return dict(self.counts)


def read_log(path):
    """(last acknowledged record per selfLink, failed records, all records) of a writer log."""
    last, failed, records = {}, [], []
    with open(path) as handle:
        for line in handle:
            entry = json.loads(line)
            records.append(entry)
            if entry["ok"]:
                last[entry["doc"]["documentSelfLink"]] = entry
            else:
                failed.append(entry)
    return last, failed, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--factory", default="/core/examples")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    writer = Writer(args.url, args.log, factory=args.factory, rate=args.rate, workers=args.workers,
                    username=args.username, password=args.password, max_seconds=args.max_seconds)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    writer.start()
    stopped.wait(args.max_seconds)
    print(json.dumps(writer.stop()))
    return 0


if __name__ == "__main__":
    main()
