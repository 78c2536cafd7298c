"""The Kilda components the simulators stand in for (see the Kilda reference, section 2.2).

Each Storm topology lists its participating bolt tasks: ``plain`` tasks confirm a SHUTDOWN at
once, ``hub`` tasks finish their in-flight operations first ("deferred shutdown"). The counts
are the lab's choice; what matters is that ``expected_state`` equals the number of tasks.
"""

TOPOLOGIES = {
    "network": ["plain"] * 3,
    "flowhs": ["plain"] + ["hub"] * 8 + ["plain"] * 3,
    "flowmonitoring": ["plain"] * 4,
    "stats": ["plain"] * 4,
    "isllatency": ["plain"] * 3,
    "opentsdb": ["plain"] * 2,
    "portstate": ["plain"] * 3,
    "nbworker": ["plain", "hub"],
    "ping": ["plain"] * 2,
    "reroute": ["plain", "hub"],
    "swmanager": ["hub"],
    "floodlightrouter": ["plain"] * 14,
    "connecteddevices": ["plain"],
    "server42-control": ["plain"],
    "history": ["plain"],
}

# Floodlight: one producer (stops at once) and its Kafka consumers (finish in-flight handlers).
FLOODLIGHT_MANAGEMENT = ["plain"] + ["hub"] * 5
FLOODLIGHT_STATS = ["plain", "hub"]

# Components that only use ZooKeeper for build-version: no state, signal created but never read.
VERSION_ONLY_BY_COLOUR = ("northbound", "grpc")
RUN_ID_APPS = {
    "server42-control-app": "server42-control-app-run-id",
    "server42-stats-app": "server42-stats-app-run-id",
    "server42-control-storm-stub": "server42-control-storm-stub-run-id",
    "func_test": "func_test_run_id",
}

DEFAULT_BUILD_VERSION = "v3r$i0n"


def floodlight_tasks(region):
    return FLOODLIGHT_STATS if region.endswith(".stats") else FLOODLIGHT_MANAGEMENT
