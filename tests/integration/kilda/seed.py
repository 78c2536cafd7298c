"""The seed document's own zkCli.sh reads ("Ensure that state > 0", "Check that all blue
components have same version", "Wait till state of all blue components will became 0"),
run through Debian's real zkCli.sh in one session."""
import subprocess

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
SEED_TOPOLOGIES = ["floodlightrouter", "network", "flowhs", "flowmonitoring", "reroute", "connecteddevices",
                   "swmanager", "isllatency", "nbworker", "opentsdb", "ping", "portstate", "stats", "server42-control"]
RUN_ID_NODES = ["server42-control-app/server42-control-app-run-id", "server42-stats-app/server42-stats-app-run-id",
                "server42-control-storm-stub/server42-control-storm-stub-run-id", "func_test/func_test_run_id"]


def zkcli_get(hosts, paths, timeout=60):
    """{path: value or None} read with ``get -s`` (the stat lines delimit the value)."""
    script = "".join("get -s %s\n" % p for p in paths) + "quit\n"
    # zkCli prints values on stdout and "Node does not exist" on stderr; one stream keeps the order.
    proc = subprocess.run([ZKCLI, "-server", hosts], input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)
    lines = proc.stdout.splitlines()
    values = []
    for index, line in enumerate(lines):
        if line.startswith("cZxid = "):
            values.append(lines[index - 1])
        elif line.startswith("Node does not exist"):
            values.append(None)
    if len(values) != len(paths):
        raise AssertionError("zkCli.sh answered %d of %d gets:\n%s\n%s" % (len(values), len(paths), proc.stdout, ""))
    return dict(zip(paths, values))
