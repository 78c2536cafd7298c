"""The node's MQTT listener: an MQTT-aware front-end that relays each client to mosquitto.
It reads CONNECT/CONNACK to own sessions, refuses clients while the eviction agent forbids
connections, and can evict a connection with DISCONNECT 0x9C."""
import asyncio
import itertools
import logging
import struct

from emqx_lab import mqtt, rpc

log = logging.getLogger("emqx_lab.relay")
_ids = itertools.count(1)


class Connection:
    def __init__(self, node, info, client_writer, up_writer):
        self.node = node
        self.client_id = info["client_id"]
        self.level = info["level"]
        self.keep_session = (info["session_expiry"] or 0) > 0 if info["level"] == 5 else not info["clean_start"]
        self.conn_id = "%s#%d" % (node.name, next(_ids))
        self.client_writer = client_writer
        self.up_writer = up_writer
        self.tasks = []
        self.evicted = None

    def evict(self, server_reference=None):
        """Disconnect the client as EMQX's eviction agent does (0x9C for MQTT 5)."""
        if self.evicted is not None:
            return
        self.evicted = server_reference or ""
        if self.level == 5:
            self.client_writer.write(mqtt.disconnect_v5(mqtt.USE_ANOTHER_SERVER, server_reference))
        for task in self.tasks:
            task.cancel()

    def close_abruptly(self):
        """Node shutdown: the socket just goes away."""
        self.evicted = ""
        for task in self.tasks:
            task.cancel()


async def _client_to_broker(conn, reader):
    while True:
        pkt = await mqtt.read_packet(reader)
        if pkt is None:
            return
        ptype, _flags, raw = pkt
        if ptype == 8:  # SUBSCRIBE: keep a per-session subscription count for /stats
            count = _count_filters(raw, conn.level)
            if count:
                conn.node.store.add_subscriptions(conn.client_id, conn.conn_id, count)
        elif ptype == mqtt.DISCONNECT and conn.level == 5:
            expiry = _disconnect_session_expiry(raw)
            if expiry is not None:
                conn.keep_session = expiry > 0
        conn.up_writer.write(raw)
        await conn.up_writer.drain()


async def _broker_to_client(conn, reader):
    while True:
        pkt = await mqtt.read_packet(reader)
        if pkt is None:
            return
        conn.client_writer.write(pkt[2])
        await conn.client_writer.drain()


def _count_filters(raw, level):
    _length, pos = mqtt.decode_varint(raw, 1)
    pos += 2
    if level == 5:
        _props, pos = mqtt.parse_properties(raw, pos)
    count = 0
    while pos < len(raw):
        (size,) = struct.unpack_from("!H", raw, pos)
        pos += 2 + size + 1
        count += 1
    return count


def _disconnect_session_expiry(raw):
    _length, pos = mqtt.decode_varint(raw, 1)
    if pos + 1 >= len(raw):
        return None
    props, _end = mqtt.parse_properties(raw, pos + 1)
    return props.get(mqtt.PROP_SESSION_EXPIRY)


async def handle_client(node, reader, writer):
    up_writer = None
    conn = None
    try:
        pkt = await asyncio.wait_for(mqtt.read_packet(reader), 10)
        if pkt is None or pkt[0] != mqtt.CONNECT:
            return
        info = mqtt.parse_connect(pkt[2])
        agent = node.agent
        if agent is not None and not agent["allow_connections"]:
            reason = mqtt.USE_ANOTHER_SERVER if info["level"] == 5 else mqtt.V3_SERVER_UNAVAILABLE
            writer.write(mqtt.connack(info["level"], reason, agent.get("server_reference")))
            await writer.drain()
            node.refused += 1
            return
        await node.adopt_session(info["client_id"])
        if node.mosquitto_socket:
            up_reader, up_writer = await asyncio.open_unix_connection(node.mosquitto_socket)
        else:
            up_reader, up_writer = await asyncio.open_connection(node.mosquitto_host, node.mosquitto_port)
        up_writer.write(pkt[2])
        await up_writer.drain()
        reply = await asyncio.wait_for(mqtt.read_packet(up_reader), 10)
        if reply is None:
            return
        writer.write(reply[2])
        await writer.drain()
        if reply[0] != mqtt.CONNACK:
            return
        session_present, reason = mqtt.parse_connack(reply[2])
        if reason != 0:
            return
        conn = Connection(node, info, writer, up_writer)
        node.store.claim(conn.client_id, node.name, conn.conn_id)
        if not session_present:
            node.store.reset_subscriptions(conn.client_id)
        node.conns[conn.conn_id] = conn
        node.dirty = True
        conn.tasks = [asyncio.ensure_future(_client_to_broker(conn, reader)),
                      asyncio.ensure_future(_broker_to_client(conn, up_reader))]
        await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, mqtt.ProtocolError, OSError,
            rpc.RpcError) as exc:
        log.debug("connection ended: %r", exc)
    finally:
        if conn is not None:
            for task in conn.tasks:
                task.cancel()
            await asyncio.gather(*conn.tasks, return_exceptions=True)
            node.conns.pop(conn.conn_id, None)
            node.dirty = True
            if not node.shutting_down:
                node.store.release(conn.client_id, conn.conn_id, conn.keep_session)
        for w in (writer, up_writer):
            if w is not None:
                try:
                    w.close()
                except Exception:  # already torn down by the peer
                    pass
