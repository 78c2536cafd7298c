# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""A synthetic MQTT check through a load balancer: connect, subscribe, publish QoS 1 messages
and count what comes back. What a real client would feel, measured in one short exchange."""

from __future__ import annotations

import threading
import time
import uuid

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError, ZdtError

try:
    import paho.mqtt.client as mqtt
except ImportError as exc:
    mqtt = None
    PAHO_IMPORT_ERROR = exc
else:
    PAHO_IMPORT_ERROR = None


def _client(client_id, protocol, username=None, password=None, tls=None):
    kwargs = dict(client_id=client_id, protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311)
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION2
    client = mqtt.Client(**kwargs)
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=tls.get("ca_path"))
        if not tls.get("validate_certs", True):
            client.tls_insecure_set(True)
    return client


def _reason_value(code):
    """paho 2 passes ReasonCode objects, paho 1 plain ints."""
    return getattr(code, "value", code)


def probe(host, port, count=10, protocol="5", timeout=10.0, username=None, password=None, tls=None, topic_prefix="zdt/probe"):
    """Run one probe; return a dict with ok, connect_ms, sent, received, lost, duplicates,
    latency_ms (p50/max) and errors. Never raises for MQTT-level failures."""
    run_id = uuid.uuid4().hex[:12]
    topic = "%s/%s" % (topic_prefix, run_id)
    received = {}
    errors = []
    connected = threading.Event()
    subscribed = threading.Event()
    sent_at = {}
    lock = threading.Lock()

    def on_connect(client, userdata, flags, reason_code, properties=None):
        if _reason_value(reason_code) == 0:
            connected.set()
        else:
            errors.append("CONNACK %s" % reason_code)

    def on_subscribe(client, userdata, mid, reason_codes, properties=None):
        subscribed.set()

    def on_message(client, userdata, message):
        now = time.monotonic()
        with lock:
            seq = int(message.payload.decode() or 0)
            received.setdefault(seq, []).append(now)

    sub = _client("zdt-probe-sub-%s" % run_id, protocol, username, password, tls)
    pub = _client("zdt-probe-pub-%s" % run_id, protocol, username, password, tls)
    sub.on_connect = on_connect
    sub.on_subscribe = on_subscribe
    sub.on_message = on_message
    result = {"ok": False, "host": host, "port": port, "protocol": protocol, "sent": 0, "received": 0, "lost": 0,
              "duplicates": 0, "connect_ms": None, "latency_ms": {}, "errors": errors}
    started = time.monotonic()
    deadline = started + timeout
    try:
        sub.connect(host, port, keepalive=30)
        sub.loop_start()
        if not connected.wait(max(0.0, deadline - time.monotonic())):
            errors.append("subscriber not connected within %.1fs" % timeout)
            return result
        result["connect_ms"] = round((time.monotonic() - started) * 1000, 1)
        sub.subscribe(topic, qos=1)
        if not subscribed.wait(max(0.0, deadline - time.monotonic())):
            errors.append("SUBACK not received within %.1fs" % timeout)
            return result
        pub.connect(host, port, keepalive=30)
        pub.loop_start()
        for seq in range(1, count + 1):
            sent_at[seq] = time.monotonic()
            info = pub.publish(topic, str(seq), qos=1)
            try:
                info.wait_for_publish(max(0.01, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                errors.append("publish %d: %s" % (seq, exc))
                break
            if info.is_published():
                result["sent"] += 1
        while time.monotonic() < deadline:
            with lock:
                if len(received) >= result["sent"]:
                    break
            time.sleep(0.02)
    except OSError as exc:
        errors.append("connect to %s:%s: %s" % (host, port, exc))
    finally:
        for client in (pub, sub):
            try:
                client.disconnect()
                client.loop_stop()
            except Exception:  # pylint: disable=broad-exception-caught
                pass
    with lock:
        result["received"] = len(received)
        result["duplicates"] = sum(len(v) - 1 for v in received.values())
        latencies = sorted((times[0] - sent_at[seq]) * 1000 for seq, times in received.items() if seq in sent_at)
    result["lost"] = max(0, result["sent"] - result["received"])
    if latencies:
        result["latency_ms"] = {"p50": round(latencies[len(latencies) // 2], 1), "max": round(latencies[-1], 1)}
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    result["ok"] = not errors and result["sent"] == count and result["lost"] == 0
    return result


def run(params):
    """The mqtt_probe module's work: one probe from the module's options. With fail_on_error, a
    probe that is not OK raises ZdtError (the task fails with the whole report)."""
    if params["count"] < 1 or params["timeout"] <= 0:
        raise ValidationError("count must be at least 1 and timeout positive")
    tls = {"ca_path": params["ca_path"], "validate_certs": params["validate_certs"]} if params["tls"] else None
    result = probe(params["host"], params["port"], count=params["count"], protocol=params["protocol"],
                   timeout=params["timeout"], username=params["username"], password=params["password"], tls=tls)
    if params["fail_on_error"] and not result["ok"]:
        why = "; ".join(result["errors"]) or "%d of %d messages lost" % (result["lost"], result["sent"])
        raise ZdtError("MQTT probe of %s:%s failed: %s" % (params["host"], params["port"], why), **result)
    result["changed"] = False
    return result
