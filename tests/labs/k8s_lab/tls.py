"""A self-signed certificate for the lab's API server (kubectl sends tokens only over HTTPS)."""
import os
import subprocess


def make_certificate(directory, host):
    """Write server.crt/server.key for ``host`` into ``directory`` and return both paths."""
    cert = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "30", "-subj", "/CN=zdt-lab-apiserver", "-addext", "subjectAltName=IP:%s" % host,
         "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30,
    )
    os.chmod(key, 0o600)
    return cert, key
