"""The lab state file: DIR/lab.json, written atomically."""
import json
import os

FILENAME = "lab.json"


def path(workdir):
    return os.path.join(os.path.abspath(workdir), FILENAME)


def exists(workdir):
    return os.path.exists(path(workdir))


def load(workdir):
    try:
        with open(path(workdir)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise SystemExit("labctl: no lab in %s" % workdir)


def save(workdir, data):
    os.makedirs(os.path.abspath(workdir), exist_ok=True)
    tmp = path(workdir) + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path(workdir))


def remove(workdir):
    try:
        os.unlink(path(workdir))
    except FileNotFoundError:
        pass
