"""Digest authentication of the lab's ZooKeeper clients (``--zk-auth USER:PASSWORD``).

Stock Kilda uses no ZooKeeper auth; a secured deployment protects its chroot with a digest
ACL. With --zk-auth every node the lab creates (chroot included) gets ACL
``digest:USER:<hash>`` with all permissions and nothing for ``world``, and every client of the
lab authenticates as USER. ZooKeeper needs no server setting for this. The credentials reach
the simulators through the environment, not their command line.
"""
import os

from kazoo.security import make_digest_acl

ENV = "KILDA_LAB_ZK_AUTH"


def parse(text):
    user, sep, password = (text or "").partition(":")
    if not sep or not user or not password:
        raise SystemExit("kilda lab: --zk-auth wants USER:PASSWORD")
    return user, password


def client_kwargs(text):
    """KazooClient keyword arguments for ``USER:PASSWORD`` (none when ``text`` is empty)."""
    if not text:
        return {}
    user, password = parse(text)
    return {"auth_data": [("digest", "%s:%s" % (user, password))],
            "default_acl": [make_digest_acl(user, password, all=True)]}


def from_environment():
    return client_kwargs(os.environ.get(ENV))
