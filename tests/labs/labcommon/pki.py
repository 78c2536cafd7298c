"""Throw-away certificates for labs that serve TLS: a CA, server and client certificates it
signed, all PEM, made with the ``openssl`` command line (no Python crypto package needed).

Keys are EC P-256: quick to generate on a busy CI box and accepted by Java and Python alike.
"""
import os
import subprocess

DAYS = "30"


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def _key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)


def make_ca(directory, name="ca"):
    """``<name>.crt``/``<name>.key`` of a new self-signed CA in ``directory``; returns both paths."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    _key(key)
    _openssl("req", "-x509", "-new", "-key", key, "-days", DAYS, "-subj", "/CN=zdt-lab-%s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", cert)
    return cert, key


def issue(directory, name, ca, usage, ip="127.0.0.1"):
    """A certificate ``<name>.crt``/``<name>.key`` signed by ``ca`` (a (cert, key) pair).

    ``usage`` is ``serverAuth`` or ``clientAuth``; server certificates carry ``ip`` as a
    subjectAltName so that a client checking host names would accept them too."""
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    _key(key)
    _openssl("req", "-new", "-key", key, "-subj", "/CN=zdt-lab-%s" % name, "-out", csr)
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyAgreement",
             "extendedKeyUsage=%s" % usage]
    if usage == "serverAuth":
        lines.append("subjectAltName=IP:%s,DNS:localhost" % ip)
    with open(ext, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", DAYS,
             "-extfile", ext, "-out", cert)
    os.unlink(csr)
    os.unlink(ext)
    return cert, key


def bundle(directory, name, cert, key):
    """One PEM file holding ``key`` then ``cert``: the form Java's PEM key stores read."""
    path = os.path.join(directory, name + ".pem")
    with open(path, "w") as out:
        for part in (key, cert):
            with open(part) as handle:
                out.write(handle.read())
    os.chmod(path, 0o600)
    return path
