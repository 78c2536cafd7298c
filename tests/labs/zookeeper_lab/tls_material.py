"""TLS material of a ``--tls`` ensemble, kept in DIR/tls: a throw-away CA, one server
certificate every member presents, and a client certificate for mutual TLS."""
import os

from labcommon import pki


def make(workdir, client_auth):
    """Write the files and return (zoo.cfg settings, what the lab description shows)."""
    directory = os.path.join(os.path.abspath(workdir), "tls")
    ca = pki.make_ca(directory)
    server = pki.issue(directory, "server", ca, "serverAuth")
    client = pki.issue(directory, "client", ca, "clientAuth")
    settings = {"keystore": pki.bundle(directory, "server", *server), "truststore": ca[0], "client_auth": client_auth}
    described = {"ca_cert": ca[0], "client_cert": client[0], "client_key": client[1], "client_auth": client_auth}
    return settings, described
