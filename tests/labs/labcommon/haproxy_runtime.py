"""HAProxy's runtime API (admin stats socket) for the labs: send one command, read the answer."""
import socket


def command(sock_path, line, timeout=5.0):
    """Send one runtime API command over the UNIX socket; return its text answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(line.strip().encode() + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode()
