"""EMQX lab: N blue + M green EMQX-like nodes over real mosquitto, behind real HAProxy.
See README.md for how it maps to the EMQX reference."""
from emqx_lab.lab import add_arguments, down, fault, status, up  # noqa: F401
