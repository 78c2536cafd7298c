"""The ``api-error`` fault: a node that keeps running (MQTT, evacuations, rebalances) while its
management API answers 503 for a while, as an overloaded or restarting dashboard listener does.

``labctl fault api-error NODE --seconds S`` writes the deadline into the lab's workdir; every API
request the node serves checks it, so the fault needs no signal to the node and ends by itself."""
import os
import time


def _path(workdir, node):
    return os.path.join(workdir, "faults", "%s.api-error" % node)


def set_until(workdir, node, deadline):
    os.makedirs(os.path.join(workdir, "faults"), exist_ok=True)
    temporary = _path(workdir, node) + ".tmp"
    with open(temporary, "w") as handle:
        handle.write("%.3f\n" % deadline)
    os.replace(temporary, _path(workdir, node))


def active(workdir, node):
    try:
        with open(_path(workdir, node)) as handle:
            return time.time() < float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return False
