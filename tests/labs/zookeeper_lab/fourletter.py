"""ZooKeeper four-letter-word queries (``srvr``, ``ruok``) over a plain TCP socket."""
import socket


def ask(host, port, word, timeout=1.0):
    """Send a four-letter word and return the whole answer as text ('' if the server is down)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
    except OSError:
        return ""
    return b"".join(chunks).decode("utf-8", "replace")


def mode(host, port, timeout=1.0):
    """'leader', 'follower', 'standalone', or None while the server is down or not serving."""
    for line in ask(host, port, "srvr", timeout).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None
