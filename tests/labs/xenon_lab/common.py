"""Small pieces every lab process shares: clock, Xenon error bodies, document kinds."""
import json
import time

ERROR_KIND = "com:vmware:xenon:common:ServiceErrorResponse"
NOT_FOUND = -2147483648          # 0x80000000
MARKED_DELETED = -2147483646     # 0x80000002
ALREADY_STARTED = -2147483645    # 0x80000003

KINDS = {
    "/core/examples": "com:vmware:xenon:services:common:ExampleService:ExampleServiceState",
    "/management/migration-tasks": "com:vmware:xenon:services:common:MigrationTaskService:State",
}

_last = [0]


def now_micros():
    """Strictly increasing wall-clock microseconds within one process (Xenon's owner clock)."""
    value = max(int(time.time() * 1e6), _last[0] + 1)
    _last[0] = value
    return value


def kind_of(factory):
    return KINDS.get(factory, "lab:%s:State" % factory.strip("/").replace("/", ":"))


def error_body(status, message, code=0):
    return {"message": message, "statusCode": status, "errorCode": code, "documentKind": ERROR_KIND}


def dumps(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def user_fields(doc):
    """The document's own content: everything but Xenon's infrastructure fields."""
    return {k: v for k, v in doc.items() if not k.startswith("document")}
