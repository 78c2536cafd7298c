"""Request-body validation of the load_rebalance endpoints (reference §1.3 for 5.x, §2 for 4.4).
Each validator returns the cleaned options or raises Invalid with the message of a 400."""
import re

from emqx_lab.versions import at_least

MAX_DURATION_S = 4294967
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


class Invalid(Exception):
    pass


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(field, value):
    if not _is_int(value) or value <= 0:
        raise Invalid("%s: expected a positive integer, got: %r" % (field, value))
    return value


def rel_threshold(field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid("%s: expected a number, got: %r" % (field, value))
    if value <= 1.0:
        raise Invalid("%s: must be greater than 1.0, got: %r" % (field, value))
    return float(value)


def _duration_ms(field, value, int_unit_ms, strings):
    if _is_int(value):
        if value < 0:
            raise Invalid("%s: expected a non-negative duration, got: %r" % (field, value))
        return value * int_unit_ms
    if strings and isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNIT_MS[match.group(2) or ("s" if int_unit_ms == 1000 else "ms")]
    raise Invalid("%s: expected a duration (integer or string like \"10s\"), got: %r" % (field, value))


def duration_s(field, value, strings=True):
    ms = _duration_ms(field, value, 1000, strings)
    seconds = -(-ms // 1000)
    if seconds > MAX_DURATION_S:
        raise Invalid("%s: must be at most %d seconds" % (field, MAX_DURATION_S))
    return seconds


def duration_ms(field, value):
    return _duration_ms(field, value, 1, True)


def node_list(field, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("%s: expected a list of node names, got: %r" % (field, value))
    if not value:
        raise Invalid("%s: must not be empty" % field)
    return list(value)


def string(field, value):
    if not isinstance(value, str):
        raise Invalid("%s: expected a string, got: %r" % (field, value))
    return value


def _validate(body, fields):
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise Invalid("unknown fields: %s" % ", ".join(unknown))
    return {key: fields[key](key, value) for key, value in body.items()}


def evacuation_v5(body, version):
    fields = {
        "conn_evict_rate": positive_int, "sess_evict_rate": positive_int, "redirect_to": string,
        "wait_takeover": duration_s, "migrate_to": node_list,
    }
    if at_least(version, "5.1.0"):
        fields["wait_health_check"] = duration_s
    return _validate(body, fields)


def rebalance_v5(body, version):
    fields = {
        "nodes": node_list, "wait_health_check": duration_s, "conn_evict_rate": positive_int,
        "sess_evict_rate": positive_int, "abs_conn_threshold": positive_int,
        "rel_conn_threshold": rel_threshold, "abs_sess_threshold": positive_int,
        "rel_sess_threshold": rel_threshold, "wait_takeover": duration_s,
    }
    if at_least(version, "5.9.0"):
        fields["conn_evict_rpc_timeout"] = duration_ms
        fields["sess_evict_rpc_timeout"] = duration_ms
    return _validate(body, fields)


def _positive_seconds(field, value):
    """4.x takes durations as whole seconds and, like every count, only above 0: validate_pos_int in
    apps/emqx_node_rebalance/src/emqx_node_rebalance_api.erl (main-v4.4, before the app moved to the
    Enterprise tree), so wait_takeover 0 is refused."""
    if not _is_int(value) or value <= 0:
        raise Invalid("invalid %s value" % field)
    return duration_s(field, value, strings=False)


def evacuation_v4(body, version):
    return _validate(body, {
        "conn_evict_rate": positive_int, "sess_evict_rate": positive_int, "redirect_to": string,
        "wait_takeover": _positive_seconds, "migrate_to": node_list,
    })


def rebalance_v4(body, version):
    return _validate(body, {
        "nodes": node_list, "wait_health_check": _positive_seconds, "conn_evict_rate": positive_int,
        "sess_evict_rate": positive_int, "abs_conn_threshold": positive_int,
        "rel_conn_threshold": rel_threshold, "abs_sess_threshold": positive_int,
        "rel_sess_threshold": rel_threshold, "wait_takeover": _positive_seconds,
    })
