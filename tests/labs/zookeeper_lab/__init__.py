"""A real ZooKeeper ensemble (Debian's ``zookeeper`` package) for the Kilda tests.

    labctl up zookeeper --servers 3 --workdir DIR [--containers]
    labctl fault kill leader --workdir DIR      (``leader`` is resolved with the ``srvr`` 4lw)

Every server is a ``QuorumPeerMain`` JVM on loopback ports chosen with free_port(). The JSON
description lists the connect string (``hosts``), each server's ports and its current mode.
"""
from zookeeper_lab.lab import add_arguments, down, fault, status, up  # noqa: F401
