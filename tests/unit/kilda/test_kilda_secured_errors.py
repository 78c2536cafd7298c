"""The messages of the secured-connection failures, and the ACL given to created nodes."""
import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import ACL, Id, Permissions

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._kilda import connection, diagnose, signal


def test_noauth_names_the_user_or_the_missing_credentials_but_never_the_password():
    with_user = connection.zookeeper_error(NoAuthError(), dict(hosts="a:1", prefix="/kilda", username="ops",
                                                               password="s3cret-value"))
    assert "NoAuth" in with_user.msg and "'ops'" in with_user.msg and "/kilda" in with_user.msg
    assert "s3cret-value" not in repr(with_user.result())
    anonymous = connection.zookeeper_error(NoAuthError(), dict(hosts="a:1", prefix="/kilda"))
    assert "no credentials were given" in anonymous.msg and anonymous.details["error"] == "NoAuthError"


class _Acls:
    def __init__(self, acl):
        self.acl = acl
        self.asked = []

    def get_acls(self, path):
        self.asked.append(path)
        return self.acl, None


def _creates(*paths):
    return [signal.Op("create", p, "") for p in paths]


def test_created_nodes_take_the_acl_of_the_closest_existing_parent():
    protected = [ACL(Permissions.ALL, Id("digest", "ops:hash="))]
    client = _Acls(protected)
    acls = signal.inherited_acls(client, _creates("/kilda/network/green", "/kilda/network/green/signal"))
    assert client.asked == ["/kilda/network"]
    assert acls == {"/kilda/network/green": protected, "/kilda/network/green/signal": protected}


def test_a_parent_acl_with_hidden_digests_is_not_copied():
    client = _Acls([ACL(Permissions.ALL, Id("digest", "ops:x"))])
    with pytest.raises(ZdtError, match="ADMIN"):
        signal.inherited_acls(client, _creates("/kilda/network/green"))


def test_connect_strings_are_split_like_kazoo_does():
    assert diagnose.endpoints("10.0.0.1:2281,zk2:2282/kilda") == [("10.0.0.1", 2281), ("zk2", 2282)]
    # where a TLS handshake just worked goes first, chroot and IPv6 brackets kept
    assert diagnose.first_in_connect_string("a:1,b:2,c:3/kilda", "b:2") == "b:2,a:1,c:3/kilda"
    assert diagnose.first_in_connect_string("127.0.0.1:1,[::1]:2", "::1:2") == "[::1]:2,127.0.0.1:1"
    assert connection.client_kwargs(dict(hosts="a:1,b:2"), first="b:2")["randomize_hosts"] is False
    assert diagnose.missing_files(dict(ca_path="/nonexistent/ca.pem", client_cert=None)) == [
        "ca_path (/nonexistent/ca.pem)"]
