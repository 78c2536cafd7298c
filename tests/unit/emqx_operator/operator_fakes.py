"""Fakes shared by the operator modules' unit tests: a clock the code under test advances by
sleeping, and an EMQX resource whose status follows a script once it has been patched."""
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import update


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Script:
    """A resource whose status advances by one entry per read after the patch; ``patched`` is the
    body of the last patch (None until then)."""

    def __init__(self, spec, first, steps):
        self.obj = {"spec": spec, "status": first}
        self.steps = list(steps)
        self.patched = None

    def get(self, _name):
        if self.patched is not None and self.steps:
            self.obj = dict(self.obj, status=self.steps.pop(0))
        return self.obj

    def patch(self, _name, body):
        self.patched = body
        self.obj = dict(self.obj, spec=update._merged(self.obj["spec"], body["spec"]))
        return self.obj
