"""What Kilda's create-zknode-and-start.sh does before any component starts: the chroot and,
for the given colour, every node with signal START and the default build-version."""
from kazoo.client import KazooClient

from kilda_lab import catalogue, zkauth


def _put(client, path, value):
    client.ensure_path(path.rsplit("/", 1)[0])
    if client.exists(path) is None:
        client.create(path, value.encode())


def bootstrap(hosts, prefix, env, regions, build_version, run_id_apps, auth=None):
    prefix = prefix.rstrip("/")
    client = KazooClient(hosts=hosts, timeout=10.0, **zkauth.client_kwargs(auth))
    client.start(timeout=30)
    try:
        client.ensure_path(prefix)
        reacting = [(name, env) for name in catalogue.TOPOLOGIES] + [("floodlight", r) for r in regions]
        for name, env_id in reacting:
            base = "%s/%s/%s" % (prefix, name, env_id)
            _put(client, base + "/signal", "START")
            _put(client, base + "/state", "")
            _put(client, base + "/expected_state", "")
            _put(client, base + "/build-version", build_version)
        others = [(name, env) for name in catalogue.VERSION_ONLY_BY_COLOUR]
        if run_id_apps:
            others += list(catalogue.RUN_ID_APPS.items())
        for name, env_id in others:
            base = "%s/%s/%s" % (prefix, name, env_id)
            _put(client, base + "/signal", "")
            _put(client, base + "/build-version", build_version)
    finally:
        client.stop()
        client.close()
