"""Faults on the links of a member on a lab network (``--containers --network``), set in the
member's own network namespace so that nothing else on the host is touched:

- ``cut``: the member drops what it receives from, and what it sends to, chosen addresses only (a
  partial partition, iptables DROP rules), while the rest of the lab still reaches it;
- ``slow``: every packet the member sends is held for a delay before it leaves (a slow link). Not every
  kernel has the netem qdisc, so the packets go through an NFQUEUE to a small process in the
  member's namespace (``python -m labcommon.links``) that lets each go once its time has come.

``clear`` undoes both. Members on the host's network (HAProxy, load generators, the tests) reach a
member through the network's gateway address, so that address stands for all of them.
"""
import argparse
import collections
import contextlib
import os
import select
import signal
import subprocess
import sys
import time

IN_CHAIN, OUT_CHAIN = "ZDT-LAB-IN", "ZDT-LAB-OUT"
QUEUE = 0


def _iptables(pid, *args, check=True):
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-w", *args],
                          capture_output=True, text=True, check=check)


def _chains(pid):
    """The lab's own chains, hooked once into INPUT and OUTPUT: clearing them undoes every link fault."""
    for chain, hook in ((IN_CHAIN, "INPUT"), (OUT_CHAIN, "OUTPUT")):
        _iptables(pid, "-N", chain, check=False)  # exists already after an earlier fault
        if _iptables(pid, "-C", hook, "-j", chain, check=False).returncode != 0:
            _iptables(pid, "-I", hook, "-j", chain)


def cut(pid, addresses):
    """Drop every packet between the member and ``addresses``, both ways."""
    _chains(pid)
    for address in addresses:
        _iptables(pid, "-I", IN_CHAIN, "-s", address, "-j", "DROP")
        _iptables(pid, "-I", OUT_CHAIN, "-d", address, "-j", "DROP")


def slow(pid, milliseconds, log_path):
    """Hold every packet the member sends for ``milliseconds``; returns the pid of the process
    that holds them. ``--queue-bypass``: should that process die, packets flow again undelayed."""
    _chains(pid)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["nsenter", "-t", str(pid), "-n", sys.executable, "-m", "labcommon.links", "--queue", str(QUEUE),
             "--ms", str(milliseconds)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    deadline = time.monotonic() + 10
    while _bound(pid) is False:  # the queue must have its listener before packets are sent to it
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("labctl: the delay process did not start (see %s)" % log_path)
        time.sleep(0.05)
    _iptables(pid, "-A", OUT_CHAIN, "!", "-o", "lo", "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass")
    return proc.pid


def _bound(pid):
    """Does queue QUEUE have a listener in the member's namespace (/proc/net/netfilter/nfnetlink_queue)?"""
    with open("/proc/%d/net/netfilter/nfnetlink_queue" % pid) as handle:
        return any(line.split()[0] == str(QUEUE) for line in handle if line.strip())


def unslow(pid, delay_pid):
    """The member's packets leave at once again."""
    _iptables(pid, "-D", OUT_CHAIN, "!", "-o", "lo", "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass",
              check=False)
    stop_delay(delay_pid)


def clear(pid, delay_pid=None):
    """Undo every link fault: no rule left, the delay process stopped (its held packets go out)."""
    for chain in (IN_CHAIN, OUT_CHAIN):
        _iptables(pid, "-F", chain, check=False)
    stop_delay(delay_pid)


def stop_delay(delay_pid):
    if delay_pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(delay_pid, signal.SIGTERM)


def hold(queue, milliseconds):
    """The delay process: take each packet from the queue and let it go ``milliseconds`` later, in order."""
    from netfilterqueue import NetfilterQueue  # only here: the labs import this module without it

    delay = milliseconds / 1000.0
    held = collections.deque()
    nfq = NetfilterQueue()
    nfq.bind(queue, lambda packet: held.append((time.monotonic() + delay, packet)), max_len=65536)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    fd = nfq.get_fd()
    try:
        while not stop:
            wait = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
            if select.select([fd], [], [], wait)[0]:
                nfq.run(block=False)
            now = time.monotonic()
            while held and held[0][0] <= now:
                held.popleft()[1].accept()
    finally:
        while held:
            held.popleft()[1].accept()
        nfq.unbind()


def main(argv=None):
    parser = argparse.ArgumentParser(description="hold the packets of an NFQUEUE for a delay (labctl fault delay)")
    parser.add_argument("--queue", type=int, default=QUEUE)
    parser.add_argument("--ms", type=float, required=True)
    args = parser.parse_args(argv)
    hold(args.queue, args.ms)


if __name__ == "__main__":
    main()
