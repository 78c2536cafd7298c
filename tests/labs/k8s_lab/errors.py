"""API errors rendered as Kubernetes ``Status`` objects."""


class ApiStatus(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def body(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}


def not_found(resource, name):
    return ApiStatus(404, "NotFound", '%s "%s" not found' % (resource, name), {"name": name, "kind": resource})


def already_exists(resource, name):
    return ApiStatus(409, "AlreadyExists", '%s "%s" already exists' % (resource, name), {"name": name, "kind": resource})


def conflict(resource, name):
    return ApiStatus(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                     "please apply your changes to the latest version and try again" % (resource, name),
                     {"name": name, "kind": resource})


def invalid(resource, name, message):
    return ApiStatus(422, "Invalid", '%s "%s" is invalid: %s' % (resource, name, message), {"name": name, "kind": resource})


def bad_request(message):
    return ApiStatus(400, "BadRequest", message)
