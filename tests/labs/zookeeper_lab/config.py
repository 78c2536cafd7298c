"""zoo.cfg and the server command line for one ensemble member."""
import os

# Debian's zkServer.sh/zkEnv.sh use this class path; the jar's manifest pulls in its dependencies.
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# The jar's manifest lists netty-handler but not the codec and resolver jars it needs, so with the
# Netty connection factory (required for TLS) every connection fails with NoClassDefFoundError
# io/netty/handler/codec/ByteToMessageDecoder. Debian ships both jars (libnetty-java).
NETTY_CLASSPATH = "/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar"

# A short tick keeps elections and session expiry fast enough for tests: followers notice a
# killed leader as soon as its sockets close, and a new leader is usually serving in ~1 s.
TICK_MS = 500


def zoo_cfg(server_id, servers, data_dir, tls=None, readonly=False):
    """Text of zoo.cfg for ``server_id``; ``servers`` maps id -> dict(client, peer, election[, secure]).

    ``tls`` (dict keystore, truststore, client_auth) adds a TLS listener on the member's
    ``secure`` port. ZooKeeper serves TLS only through its Netty connection factory; the plain
    port stays open on the same factory for the lab's own use (four-letter words, simulators)."""
    me = servers[server_id]
    lines = [
        "tickTime=%d" % TICK_MS,
        "initLimit=20",
        "syncLimit=6",
        "dataDir=%s" % data_dir,
        "clientPort=%d" % me["client"],
        "clientPortAddress=%s" % me.get("host", "127.0.0.1"),
        "maxClientCnxns=800",
        # srvr/stat resolve the leader for ``fault kill leader``; wchp shows kilda_zk_signal whose
        # signal watch moved (a component that reconnected); ruok/mntr/conf help debugging.
        "4lw.commands.whitelist=srvr,stat,wchp,ruok,mntr,conf,cons,isro",
        "admin.enableServer=false",
        "autopurge.purgeInterval=0",
    ]
    if readonly:
        # A server without quorum cannot commit the creation of a global session, so it drops even
        # clients that asked for read-only; local sessions (upgraded to global only when a client
        # creates an ephemeral node) are what read-only mode needs.
        lines += ["localSessionsEnabled=true", "localSessionsUpgradingEnabled=true"]
    if tls:
        # zoo.cfg keys ZooKeeper does not know become "zookeeper."-prefixed system properties,
        # which is where X509Util looks for ssl.*.
        lines += [
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "secureClientPort=%d" % me["secure"],
            "secureClientPortAddress=%s" % me.get("host", "127.0.0.1"),
            "ssl.keyStore.location=%s" % tls["keystore"],
            "ssl.keyStore.type=PEM",
            "ssl.trustStore.location=%s" % tls["truststore"],
            "ssl.trustStore.type=PEM",
            "ssl.clientAuth=%s" % tls["client_auth"],
        ]
    if len(servers) > 1:
        for sid in sorted(servers):
            lines.append("server.%d=%s:%d:%d" % (sid, servers[sid].get("host", "127.0.0.1"), servers[sid]["peer"], servers[sid]["election"]))
    return "\n".join(lines) + "\n"


def write_member(workdir, server_id, servers, tls=None, readonly=False):
    """Create the member's data dir, myid and zoo.cfg; return the zoo.cfg path."""
    base = os.path.join(os.path.abspath(workdir), "zk%d" % server_id)
    data_dir = os.path.join(base, "data")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "myid"), "w") as handle:
        handle.write("%d\n" % server_id)
    cfg = os.path.join(base, "zoo.cfg")
    with open(cfg, "w") as handle:
        handle.write(zoo_cfg(server_id, servers, data_dir, tls, readonly))
    return cfg


def server_argv(cfg_path, log_dir, readonly=False, netty=False):
    """java command line of one server (small heap: three of them share a 2-core CI box).

    ``readonly`` lets a server that lost its quorum keep serving reads to clients that asked
    for read-only sessions; ZooKeeper reads this flag only as a JVM system property."""
    flags = ["-Dreadonlymode.enabled=true"] if readonly else []
    return [
        "java", "-Xms32m", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.log.dir=%s" % log_dir, "-Dzookeeper.root.logger=INFO,CONSOLE",
        "-Dzookeeper.jmx.log4j.disable=true",
    ] + flags + ["-cp", CLASSPATH + (":" + NETTY_CLASSPATH if netty else ""), MAIN, cfg_path]
