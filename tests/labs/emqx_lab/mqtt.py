"""The little MQTT framing the node front-ends need: fixed headers, variable byte integers,
CONNECT parsing, CONNACK/DISCONNECT building (MQTT 3.1.1 and 5)."""
import asyncio
import struct

CONNECT, CONNACK, PUBLISH, DISCONNECT = 1, 2, 3, 14
PROP_SESSION_EXPIRY = 0x11
PROP_SERVER_REFERENCE = 0x1C
USE_ANOTHER_SERVER = 0x9C
V3_SERVER_UNAVAILABLE = 3

# Property identifier -> value kind, enough to walk any MQTT 5 property block.
_PROP_KINDS = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}


class ProtocolError(Exception):
    pass


def encode_varint(value):
    out = bytearray()
    while True:
        byte = value % 128
        value //= 128
        if value:
            byte |= 0x80
        out.append(byte)
        if not value:
            return bytes(out)


def decode_varint(buf, pos):
    value, mult = 0, 1
    for _byte in range(4):
        byte = buf[pos]
        pos += 1
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, pos
        mult *= 128
    raise ProtocolError("malformed variable byte integer")


async def read_packet(reader):
    """Read one whole packet; returns (packet_type, flags, raw_bytes) or None at EOF."""
    first = await reader.read(1)
    if not first:
        return None
    header = bytearray(first)
    length, mult = 0, 1
    for _byte in range(4):
        byte = await reader.readexactly(1)
        header += byte
        length += (byte[0] & 0x7F) * mult
        if not byte[0] & 0x80:
            break
        mult *= 128
    else:
        raise ProtocolError("malformed remaining length")
    body = await reader.readexactly(length) if length else b""
    return first[0] >> 4, first[0] & 0x0F, bytes(header) + body


def packet(ptype, body, flags=0):
    return bytes([(ptype << 4) | flags]) + encode_varint(len(body)) + body


def _utf8(value):
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _read_str(buf, pos):
    (size,) = struct.unpack_from("!H", buf, pos)
    pos += 2
    return buf[pos:pos + size], pos + size


def parse_properties(buf, pos):
    length, pos = decode_varint(buf, pos)
    end = pos + length
    props = {}
    while pos < end:
        ident, pos = decode_varint(buf, pos)
        kind = _PROP_KINDS.get(ident)
        if kind == "byte":
            value, pos = buf[pos], pos + 1
        elif kind == "u16":
            (value,), pos = struct.unpack_from("!H", buf, pos), pos + 2
        elif kind == "u32":
            (value,), pos = struct.unpack_from("!I", buf, pos), pos + 4
        elif kind == "varint":
            value, pos = decode_varint(buf, pos)
        elif kind in ("str", "bin"):
            value, pos = _read_str(buf, pos)
        elif kind == "pair":
            key, pos = _read_str(buf, pos)
            val, pos = _read_str(buf, pos)
            value = (key, val)
        else:
            raise ProtocolError("unknown property 0x%02x" % ident)
        props[ident] = value
    return props, end


def parse_connect(raw):
    """Fields of a CONNECT packet the broker front-end decides on."""
    _length, pos = decode_varint(raw, 1)
    proto_name, pos = _read_str(raw, pos)
    if proto_name not in (b"MQTT", b"MQIsdp"):
        raise ProtocolError("not an MQTT CONNECT")
    level = raw[pos]
    flags = raw[pos + 1]
    pos += 4  # level, flags, keepalive
    props = {}
    if level == 5:
        props, pos = parse_properties(raw, pos)
    client_id, pos = _read_str(raw, pos)
    return {
        "level": level,
        "clean_start": bool(flags & 0x02),
        "client_id": client_id.decode("utf-8", "replace"),
        "session_expiry": props.get(PROP_SESSION_EXPIRY, 0) if level == 5 else None,
    }


def parse_connack(raw):
    """(session_present, reason_code) of a CONNACK."""
    _length, pos = decode_varint(raw, 1)
    return bool(raw[pos] & 0x01), raw[pos + 1]


def _props_block(server_reference):
    props = b""
    if server_reference:
        props = bytes([PROP_SERVER_REFERENCE]) + _utf8(server_reference)
    return encode_varint(len(props)) + props


def connack(level, reason, server_reference=None):
    if level == 5:
        return packet(CONNACK, bytes([0, reason]) + _props_block(server_reference))
    return packet(CONNACK, bytes([0, reason]))


def disconnect_v5(reason, server_reference=None):
    return packet(DISCONNECT, bytes([reason]) + _props_block(server_reference))


def connect_packet(client_id, clean_start=True, session_expiry=0, keepalive=30, level=5):
    """A CONNECT (MQTT 5 by default; level 4 = 3.1.1), e.g. to discard a session in mosquitto."""
    body = _utf8("MQTT") + bytes([level, 0x02 if clean_start else 0]) + struct.pack("!H", keepalive)
    if level == 5:
        props = bytes([PROP_SESSION_EXPIRY]) + struct.pack("!I", session_expiry)
        body += encode_varint(len(props)) + props
    return packet(CONNECT, body + _utf8(client_id))


def parse_connack_properties(raw):
    """Properties of an MQTT 5 CONNACK ({} when there are none)."""
    _length, pos = decode_varint(raw, 1)
    if pos + 2 >= len(raw):
        return {}
    props, _end = parse_properties(raw, pos + 2)
    return props


async def discard_session(host, port, client_id, timeout=5.0):
    """Make mosquitto forget ``client_id``'s session: clean start with expiry 0, then leave."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(connect_packet(client_id, clean_start=True, session_expiry=0))
        await writer.drain()
        reply = await asyncio.wait_for(read_packet(reader), timeout)
        writer.write(disconnect_v5(0))
        await writer.drain()
        return reply is not None and reply[0] == CONNACK
    finally:
        writer.close()
