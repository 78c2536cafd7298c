"""Load generator for the EMQX lab: many real paho-mqtt clients through the load balancer,
measuring what users feel (sessions lost, messages lost, reconnect storms).

    python -m emqx_lab.load --host 127.0.0.1 --port LB_PORT --clients 1000 --rate 200 \
        [--duration 60] [--out report.json] [--ready-file F]
    python -m emqx_lab.load --probe --host 127.0.0.1 --port LB_PORT

Clients are persistent sessions (MQTT 5: clean_start false + session expiry; 3.1.1:
clean_session false), half of each protocol, each subscribed QoS 1 to its own topic. They
reconnect with exponential backoff and jitter after a DISCONNECT, a refusal or a closed socket.
A separate QoS 1 publisher sends sequence-numbered messages to every subscribed client's topic.
All clients are driven from one thread with a selector and paho's socket callbacks.
"""
import argparse
import base64
import errno
import gc
import heapq
import itertools
import json
import os
import random
import selectors
import signal
import socket
import sys
import threading
import time
import urllib.request
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY = 3600
TOPIC = "lab/load/%s"


def _props_session(expiry):
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    return props


class _Client(paho.Client):
    """A paho client that connects without blocking and without binding first.

    paho binds every socket to ("", 0) and then connects it blocking. With thousands of clients
    on one host both cost the whole generator: a bind to port 0 searches the ephemeral range for
    a port nobody uses (slow once most are taken, and EADDRINUSE once none is left), and a
    blocking connect stops every other client while it waits. Profiled at 10,000 clients, the two
    took 27% of the generator's time in mid-drain, and the stalls bunched reconnects into bursts
    that no fleet of independent devices would produce. A connect() without bind shares ports
    between destinations; paho already handles the write that has to wait for the handshake."""

    def _create_socket_connection(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((self._host, self._port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, os.strerror(code))
        return sock


class _Member:
    """One paho client plus its bookkeeping."""

    def __init__(self, gen, client_id, v5, persistent=True, port=None):
        self.gen = gen
        self.port = port or gen.port
        self.client_id = client_id
        self.v5 = v5
        self.topic = TOPIC % client_id
        self.connected = False
        self.subscribed = False
        self.ever_connected = False
        self.backoff = 0.2
        self.reconnect_due = None
        self.received = set()
        protocol = paho.MQTTv5 if v5 else paho.MQTTv311
        kwargs = {} if v5 else {"clean_session": not persistent}
        self.client = _Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
        c = self.client
        c.on_socket_open = gen._sock_open
        c.on_socket_close = gen._sock_close
        c.on_socket_register_write = gen._sock_want_write
        c.on_socket_unregister_write = gen._sock_no_write
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.user_data_set(self)

    def connect(self):
        gen = self.gen
        try:
            if self.v5:
                self.client.connect(gen.host, self.port, keepalive=gen.keepalive, clean_start=False,
                                    properties=_props_session(SESSION_EXPIRY))
            else:
                self.client.connect(gen.host, self.port, keepalive=gen.keepalive)
        except OSError:
            self._schedule_reconnect()
            return
        gen.connect_attempts += 1

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        gen = self.gen
        if reason_code.is_failure:
            gen.refused += 1
            gen.count_reason("connack", reason_code)
            return
        if self.ever_connected:
            gen.reconnects += 1
            gen.disconnected_now = max(0, gen.disconnected_now - 1)
            gen._note_reconnect()
            if not flags.session_present:
                gen.sessions_lost += 1
                if len(gen.sessions_lost_log) < 100:
                    gen.sessions_lost_log.append({"t": round(time.monotonic() - gen.started, 3), "client_id": self.client_id,
                                                  "port": self.port})
                self.subscribed = False
        self.ever_connected = True
        self.connected = True
        self.backoff = 0.2
        if not self.subscribed:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if not self.subscribed:
            self.subscribed = True
            self.gen._note_subscribed(self)

    def _on_message(self, client, userdata, message):
        try:
            seq = int(message.payload.split(b":", 1)[1])
        except (IndexError, ValueError):
            return
        if seq in self.received:
            self.gen.duplicates += 1
        else:
            self.received.add(seq)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        gen = self.gen
        if self.connected and not gen.stopping:
            gen.count_reason("disconnect", reason_code)
        was_connected, self.connected = self.connected, False
        if not gen.stopping:
            if was_connected:
                gen._note_disconnected()
            self._schedule_reconnect()

    def _schedule_reconnect(self):
        if self.reconnect_due is not None or self.gen.stopping:
            return
        delay = self.backoff * (0.5 + random.random())
        self.backoff = min(self.backoff * 2, self.gen.max_backoff)
        self.reconnect_due = time.monotonic() + delay
        self.gen._at(self.reconnect_due, self._reconnect)

    def _reconnect(self):
        self.reconnect_due = None
        if self.connected or self.gen.stopping:
            return
        try:
            self.client.reconnect()
            self.gen.connect_attempts += 1
        except (OSError, ValueError):
            self._schedule_reconnect()


class _Publisher:
    """QoS 1 publisher on its own connection through the LB; tracks which sequence numbers
    the broker acknowledged for each subscriber."""

    def __init__(self, gen):
        self.gen = gen
        self.connected = False
        self.ever_connected = False
        self.reconnects = 0
        self.inflight = {}
        self.backoff = 0.2
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="lab-publisher-" + uuid.uuid4().hex[:8],
                                  protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        c = self.client
        c.on_socket_open = gen._sock_open
        c.on_socket_close = gen._sock_close
        c.on_socket_register_write = gen._sock_want_write
        c.on_socket_unregister_write = gen._sock_no_write
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish

    def connect(self):
        try:
            self.client.connect(self.gen.host, self.gen.port, keepalive=self.gen.keepalive, clean_start=True)
        except OSError:
            self.gen._at(time.monotonic() + self.backoff, self._retry)

    def _retry(self):
        if self.connected or self.gen.stopping_publish:
            return
        try:
            self.client.reconnect()
        except (OSError, ValueError):
            self.backoff = min(self.backoff * 2, 2.0)
            self.gen._at(time.monotonic() + self.backoff * (0.5 + random.random()), self._retry)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            # The publisher sits on a node like any client: a test that counts the clients a
            # node held must count its reconnect too.
            self.reconnects += self.ever_connected
            self.ever_connected = self.connected = True
            self.backoff = 0.2

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        # Unacknowledged messages are not counted either way: the broker never confirmed them.
        self.gen.unconfirmed += len(self.inflight)
        self.inflight.clear()
        if not self.gen.stopping_publish:
            self.gen._at(time.monotonic() + self.backoff * (0.5 + random.random()), self._retry)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return
        member, seq = entry
        if getattr(reason_code, "is_failure", False):
            self.gen.publish_rejected += 1
            return
        self.gen.acked[member.client_id].add(seq)
        self.gen.messages_acked += 1

    def publish(self, member):
        seq = next(self.gen.seq[member.client_id])
        info = self.client.publish(member.topic, b"%s:%d" % (member.client_id.encode(), seq), qos=1)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.inflight[info.mid] = (member, seq)
            self.gen.messages_sent += 1


class LoadGenerator:
    def __init__(self, host, port, clients=100, rate=50.0, connect_rate=300.0, keepalive=30,
                 max_backoff=3.0, v5_share=0.5, prefix=None, api_url=None, api_auth=None):
        self.host = host
        # Several ports: the clients are spread over them in turn (a pair of load balancers, as
        # DNS round robin spreads real clients); the publisher uses the first.
        self.ports = list(port) if isinstance(port, (list, tuple)) else [port]
        self.port = self.ports[0]
        self.keepalive = keepalive
        self.max_backoff = max_backoff
        self.rate = rate
        self.connect_rate = connect_rate
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self._tick = itertools.count()
        self.stopping = False
        self.stopping_publish = False
        prefix = prefix or "lab-%s" % uuid.uuid4().hex[:6]
        v5_every = max(1, round(1 / v5_share)) if v5_share else 0
        self.members = [_Member(self, "%s-%05d" % (prefix, i), bool(v5_every) and i % v5_every == 0,
                                port=self.ports[i % len(self.ports)])
                        for i in range(clients)]
        self.publisher = _Publisher(self)
        self.seq = {m.client_id: itertools.count(1) for m in self.members}
        self.acked = {m.client_id: set() for m in self.members}
        self.ready_members = []
        self.ready = threading.Event()
        self.done = threading.Event()
        self.sessions_lost = self.reconnects = self.refused = self.duplicates = 0
        self.sessions_lost_log = []  # the first 100: which client, when, through which port
        self.messages_sent = self.messages_acked = self.unconfirmed = self.publish_rejected = 0
        self.connect_attempts = 0
        self.reasons = {}
        self._reconnect_times = []
        self.reconnect_log = []  # every reconnect, seconds since start: the peak can be located afterwards
        self.peak_reconnects_per_s = 0
        self.peak_disconnected = 0
        self.disconnected_now = 0
        self.samples = []
        self.connected_at_stop = 0
        self.started = None
        self.thread = None
        self._stop_requested = threading.Event()
        self._drain_timeout = 15.0
        self.node_sampler = _NodeSampler(api_url, api_auth) if api_url else None

    # selector plumbing ------------------------------------------------------------------
    def _sock_open(self, client, userdata, sock):
        self.sel.register(sock, selectors.EVENT_READ, client)

    def _sock_close(self, client, userdata, sock):
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _sock_want_write(self, client, userdata, sock):
        try:
            self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        except (KeyError, ValueError):
            pass

    def _sock_no_write(self, client, userdata, sock):
        try:
            self.sel.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass

    def _at(self, when, callback):
        heapq.heappush(self.timers, (when, next(self._tick), callback))

    def count_reason(self, kind, reason_code):
        key = "%s:%s" % (kind, getattr(reason_code, "value", reason_code))
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def _note_reconnect(self):
        now = time.monotonic()
        self._reconnect_times.append(now)
        self.reconnect_log.append(round(now - (self.started or now), 3))
        while self._reconnect_times and self._reconnect_times[0] <= now - 1.0:
            self._reconnect_times.pop(0)
        self.peak_reconnects_per_s = max(self.peak_reconnects_per_s, len(self._reconnect_times))

    def _note_disconnected(self):
        self.disconnected_now += 1
        self.peak_disconnected = max(self.peak_disconnected, self.disconnected_now)

    def _note_subscribed(self, member):
        if member not in self.ready_members:
            self.ready_members.append(member)
        if len(self.ready_members) == len(self.members) and not self.ready.is_set():
            # Every client object lives until the end: leave them out of the cyclic collector's
            # full passes, which took up to 0.16 s each over 10,000 clients and stalled them all.
            gc.freeze()
            self.ready.set()

    # main loop --------------------------------------------------------------------------
    def _loop(self):
        self.started = time.monotonic()
        now = self.started
        for i, member in enumerate(self.members):
            self._at(now + i / self.connect_rate, member.connect)
        self.publisher.connect()
        next_misc = now + 1.0
        next_sample = now + 1.0
        publish_credit = 0.0
        last = now
        rr = 0
        drain_deadline = None
        while True:
            now = time.monotonic()
            if self._stop_requested.is_set() and drain_deadline is None:
                self.stopping_publish = True
                drain_deadline = now + self._drain_timeout
            if drain_deadline is not None and (self._drained() or now >= drain_deadline):
                break
            timeout = 0.01
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - now))
            for key, events in self.sel.select(timeout):
                client = key.data
                if events & selectors.EVENT_READ:
                    client.loop_read()
                if events & selectors.EVENT_WRITE:
                    client.loop_write()
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _due, _seq, callback = heapq.heappop(self.timers)
                callback()
            # Publishing at a steady rate to clients whose subscription exists.
            publish_credit += (now - last) * self.rate
            last = now
            if not self.stopping_publish and self.publisher.connected and self.ready_members:
                burst = int(publish_credit)
                for _attempt in range(min(burst, 1000)):
                    member = self.ready_members[rr % len(self.ready_members)]
                    rr += 1
                    self.publisher.publish(member)
                publish_credit -= burst
            publish_credit = min(publish_credit, self.rate)
            if now >= next_misc:
                next_misc = now + 1.0
                for member in self.members:
                    member.client.loop_misc()
                self.publisher.client.loop_misc()
            if now >= next_sample:
                next_sample = now + 1.0
                self._sample(now)
        self._shutdown()

    def _sample(self, now):
        connected = sum(1 for m in self.members if m.connected)
        disconnected = sum(1 for m in self.members if m.ever_connected and not m.connected)
        self.peak_disconnected = max(self.peak_disconnected, disconnected)
        recent = sum(1 for t in self._reconnect_times if t > now - 1.0)
        sample = {"t": round(now - self.started, 1), "connected": connected, "disconnected": disconnected,
                  "reconnects_1s": recent}
        if self.node_sampler is not None and self.node_sampler.latest is not None:
            sample["nodes"] = self.node_sampler.latest
        self.samples.append(sample)

    def _missing(self):
        return sum(len(self.acked[m.client_id] - m.received) for m in self.members)

    def _drained(self):
        return not self.publisher.inflight and self._missing() == 0

    def _shutdown(self):
        self.connected_at_stop = sum(1 for m in self.members if m.connected)
        self.stopping = True
        for client in [m.client for m in self.members] + [self.publisher.client]:
            try:
                client.disconnect()
                client.loop_write()
            except Exception:  # a socket that is already gone
                pass
        for key in list(self.sel.get_map().values()):
            try:
                key.data.loop_read()
            except Exception:
                pass
        self.sel.close()
        self.done.set()

    # public API -------------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._loop, name="emqx-lab-load", daemon=True)
        self.thread.start()
        if self.node_sampler is not None:
            self.node_sampler.start(self.done)
        return self

    def wait_ready(self, timeout):
        return self.ready.wait(timeout)

    def stop(self, drain_timeout=15.0):
        self._drain_timeout = drain_timeout
        self._stop_requested.set()
        self.thread.join(drain_timeout + 30)
        return self.report()

    def snapshot(self):
        return {"connected": sum(1 for m in self.members if m.connected), "sessions_lost": self.sessions_lost,
                "messages_acked": self.messages_acked, "reconnects": self.reconnects}

    def report(self):
        lost = self._missing()
        return {
            "clients": len(self.members),
            "clients_v5": sum(1 for m in self.members if m.v5),
            "connected": self.connected_at_stop if self.done.is_set() else sum(1 for m in self.members if m.connected),
            "ready": self.ready.is_set(),
            "sessions_lost": self.sessions_lost,
            "sessions_lost_log": self.sessions_lost_log,
            "reconnects": self.reconnects,
            "publisher_reconnects": self.publisher.reconnects,
            "refused": self.refused,
            "messages_sent": self.messages_sent,
            "messages_acked": self.messages_acked,
            "messages_received": sum(len(m.received) for m in self.members),
            "messages_lost": lost,
            "messages_unconfirmed": self.unconfirmed,
            "publish_rejected": self.publish_rejected,
            "duplicates": self.duplicates,
            "peak_reconnects_per_s": self.peak_reconnects_per_s,
            "reconnect_times": self.reconnect_log,
            "peak_disconnected": self.peak_disconnected,
            "reasons": self.reasons,
            "duration_s": round(time.monotonic() - self.started, 2) if self.started else 0,
            "samples": self.samples,
        }


class _NodeSampler:
    """Live connections per node from GET /api/v5/nodes once a second, off the client thread."""

    def __init__(self, api_url, auth):
        self.url = api_url.rstrip("/") + "/api/v5/nodes"
        self.headers = {}
        if auth:
            token = base64.b64encode(("%s:%s" % tuple(auth)).encode()).decode()
            self.headers["Authorization"] = "Basic " + token
        self.latest = None

    def start(self, done):
        threading.Thread(target=self._run, args=(done,), name="emqx-lab-load-nodes", daemon=True).start()

    def _run(self, done):
        while not done.wait(1.0):
            try:
                request = urllib.request.Request(self.url, headers=self.headers)
                with urllib.request.urlopen(request, timeout=2) as reply:
                    nodes = json.load(reply)
                self.latest = {n["node"]: n.get("live_connections", 0) for n in nodes
                               if n.get("node_status") == "running"}
            except (OSError, ValueError):
                self.latest = None


def probe(host, port, timeout=5.0):
    """One synthetic check through the LB: connect, subscribe, publish QoS 1, receive it."""
    started = time.monotonic()
    client_id = "lab-probe-" + uuid.uuid4().hex[:8]
    topic = "lab/probe/" + client_id
    got = threading.Event()
    subscribed = threading.Event()
    result = {"ok": False, "host": host, "port": port}
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1) if not rc.is_failure else \
        result.update(error="connack %s" % rc)
    client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    client.on_message = lambda c, u, m: got.set()
    try:
        client.connect(host, port, keepalive=10, clean_start=True)
    except OSError as exc:
        result["error"] = "connect: %s" % exc
        return result
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            result.setdefault("error", "no SUBACK within %.1fs" % timeout)
            return result
        sent = time.monotonic()
        client.publish(topic, b"probe", qos=1)
        if got.wait(max(0.1, timeout - (sent - started))):
            result.update(ok=True, latency_ms=round((time.monotonic() - sent) * 1000, 2))
        else:
            result["error"] = "message not received within %.1fs" % timeout
    finally:
        result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 2)
        client.disconnect()
        client.loop_stop()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_ports, required=True,
                        help="the load balancer's MQTT port, or several separated by commas (clients take them in turn)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second, all clients together")
    parser.add_argument("--connect-rate", type=float, default=300.0)
    parser.add_argument("--keepalive", type=int, default=30,
                        help="MQTT keep alive in seconds: how soon a client notices a silent connection (a partitioned node)")
    parser.add_argument("--v5-share", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=None, help="seconds; default until SIGTERM/SIGINT")
    parser.add_argument("--max-runtime", type=float, default=3600.0, help="hard upper bound in seconds")
    parser.add_argument("--drain-timeout", type=float, default=15.0)
    parser.add_argument("--out", help="write the JSON report here (default stdout)")
    parser.add_argument("--ready-file", help="created once every client has subscribed")
    parser.add_argument("--api-url", help="a node's API base URL: sample live connections per node")
    parser.add_argument("--api-key", help="API key for --api-url")
    parser.add_argument("--api-secret", help="API secret for --api-url")
    parser.add_argument("--probe", action="store_true", help="one synthetic pub/sub check, then exit")
    parser.add_argument("--timeout", type=float, default=5.0, help="probe timeout")
    args = parser.parse_args(argv)

    if args.probe:
        report = probe(args.host, args.port[0], args.timeout)
        _write(report, args.out)
        return 0 if report["ok"] else 1

    gen = LoadGenerator(args.host, args.port, clients=args.clients, rate=args.rate,
                        connect_rate=args.connect_rate, keepalive=args.keepalive, v5_share=args.v5_share, api_url=args.api_url,
                        api_auth=(args.api_key, args.api_secret) if args.api_key else None).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    deadline = time.monotonic() + min(args.duration or args.max_runtime, args.max_runtime)
    ready_written = False
    while not stop.is_set() and time.monotonic() < deadline:
        if args.ready_file and not ready_written and gen.ready.is_set():
            with open(args.ready_file, "w") as handle:
                json.dump(gen.snapshot(), handle)
            ready_written = True
        stop.wait(0.2)
    _write(gen.stop(args.drain_timeout), args.out)
    return 0


def _ports(text):
    try:
        ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected a port or ports separated by commas, got %r" % text) from None
    if not ports:
        raise argparse.ArgumentTypeError("no port given")
    return ports


def _write(report, out):
    text = json.dumps(report, indent=2, sort_keys=True)
    if out:
        tmp = out + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(text + "\n")
        os.replace(tmp, out)
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
