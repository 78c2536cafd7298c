"""zoo.cfg and the server command line for one ensemble member."""
import os

# Debian's zkServer.sh/zkEnv.sh use this class path; the jar's manifest pulls in its dependencies.
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

# A short tick keeps elections and session expiry fast enough for tests: followers notice a
# killed leader as soon as its sockets close, and a new leader is usually serving in ~1 s.
TICK_MS = 500


def zoo_cfg(server_id, servers, data_dir):
    """Text of zoo.cfg for ``server_id``; ``servers`` maps id -> dict(client, peer, election)."""
    me = servers[server_id]
    lines = [
        "tickTime=%d" % TICK_MS,
        "initLimit=20",
        "syncLimit=6",
        "dataDir=%s" % data_dir,
        "clientPort=%d" % me["client"],
        "clientPortAddress=127.0.0.1",
        "maxClientCnxns=800",
        # srvr/stat resolve the leader for ``fault kill leader``; ruok/mntr/conf help debugging.
        "4lw.commands.whitelist=srvr,stat,ruok,mntr,conf,cons",
        "admin.enableServer=false",
        "autopurge.purgeInterval=0",
    ]
    if len(servers) > 1:
        for sid in sorted(servers):
            lines.append("server.%d=127.0.0.1:%d:%d" % (sid, servers[sid]["peer"], servers[sid]["election"]))
    return "\n".join(lines) + "\n"


def write_member(workdir, server_id, servers):
    """Create the member's data dir, myid and zoo.cfg; return the zoo.cfg path."""
    base = os.path.join(os.path.abspath(workdir), "zk%d" % server_id)
    data_dir = os.path.join(base, "data")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "myid"), "w") as handle:
        handle.write("%d\n" % server_id)
    cfg = os.path.join(base, "zoo.cfg")
    with open(cfg, "w") as handle:
        handle.write(zoo_cfg(server_id, servers, data_dir))
    return cfg


def server_argv(cfg_path, log_dir):
    """java command line of one server (small heap: three of them share a 2-core CI box)."""
    return [
        "java", "-Xms32m", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.log.dir=%s" % log_dir, "-Dzookeeper.root.logger=INFO,CONSOLE",
        "-Dzookeeper.jmx.log4j.disable=true",
        "-cp", CLASSPATH, MAIN, cfg_path,
    ]
