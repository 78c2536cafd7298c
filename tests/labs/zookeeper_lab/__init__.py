"""A real ZooKeeper ensemble (Debian's ``zookeeper`` package) for the Kilda tests.

    labctl up zookeeper --servers 3 --workdir DIR [--containers] [--tls [--tls-client-auth need|want|none]] [--readonly]
    labctl fault kill leader --workdir DIR      (``leader`` is resolved with the ``srvr`` 4lw)

Every server is a ``QuorumPeerMain`` JVM on loopback ports chosen with free_port(). The JSON
description lists the connect string (``hosts``), each server's ports and its current mode;
with ``--tls`` also ``tls_hosts``, ``ca_cert``, ``client_cert`` and ``client_key``. See
README.md beside this file for the secured and read-only options.
"""
from zookeeper_lab.lab import add_arguments, down, fault, status, up  # noqa: F401
