"""Kilda component simulators on a ZooKeeper ensemble (see sim.py for their behaviour).

    labctl up kilda --env blue --zk HOSTS --workdir DIR [--regions 1,2] [--bootstrap] [--containers]
                    [--zk-auth USER:PASSWORD] [--session-timeout SECONDS]

Members (each a process or container): ``topologies-<env>`` (the 15 Storm topologies),
``northbound-<env>``, ``grpc-<env>``, ``floodlight-<region>`` for each region, and with
``--run-id-apps`` the server42 apps and func_test client. ``--bootstrap`` first does what
Kilda's ZooKeeper container script does (chroot + nodes with ``signal=START``).
``--zk-auth`` makes every lab client authenticate with ZooKeeper digest auth and gives every
node the lab creates (chroot included) a digest ACL for that user only (see zkauth.py).
What the simulators model of Open Kilda, with the upstream files, is in README.md.
"""
from kilda_lab.lab import add_arguments, down, fault, status, up  # noqa: F401
