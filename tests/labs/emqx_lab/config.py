"""The lab's static configuration (DIR/emqx-cluster.json): nodes, ports, versions, credentials.
Written by ``labctl up`` and read by every node process."""
import json
import os

FILENAME = "emqx-cluster.json"


def path(workdir):
    return os.path.join(os.path.abspath(workdir), FILENAME)


def db_path(workdir):
    return os.path.join(os.path.abspath(workdir), "emqx-cluster.db")


def save(workdir, cfg):
    tmp = path(workdir) + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(cfg, handle, indent=2, sort_keys=True)
    os.replace(tmp, path(workdir))


def load(workdir):
    with open(path(workdir)) as handle:
        return json.load(handle)


def node(cfg, name):
    for spec in cfg["nodes"]:
        if spec["name"] == name:
            return spec
    raise KeyError(name)


def host(spec):
    """Where a member listens: its own address on the lab's network (--containers --network), else loopback."""
    return spec.get("host") or "127.0.0.1"
