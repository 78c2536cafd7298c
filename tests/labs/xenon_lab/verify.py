"""Check a finished upgrade from the writer's point of view: every acknowledged write is on green
with the expected content (blue-served writes after the schema-v2 transformation), and no request
failed. Prints a JSON summary; exits 1 when something was lost, altered or failed.

CLI: python -m xenon_lab.verify --green URL --log WRITER_LOG
"""
import argparse
import json
import sys

import httpx

from xenon_lab.transform import schema_v2
from xenon_lab.writer import read_log


def content(doc):
    return json.dumps({k: v for k, v in doc.items() if not k.startswith("document")}, sort_keys=True)


def verify(green_url, log):
    last, failed, records = read_log(log)
    green = httpx.get(green_url + "/core/examples?expand", timeout=60).json().get("documents") or {}
    lost = sorted(link for link in last if link not in green)
    altered = sorted(link for link, entry in last.items() if link in green and content(green[link]) != content(
        schema_v2(entry["doc"]) if entry["group"] == "blue" else entry["doc"]))
    return {"records": len(records), "acknowledged_documents": len(last), "failed_requests": len(failed),
            "lost": lost[:20], "lost_count": len(lost), "altered": altered[:20], "altered_count": len(altered),
            "served_by": sorted({r.get("group") for r in records if r["ok"]}),
            "failures": [r.get("error") for r in failed[:5]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--green", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    result = verify(args.green, args.log)
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if (result["lost_count"] or result["altered_count"] or result["failed_requests"]) else 0


if __name__ == "__main__":
    sys.exit(main())
