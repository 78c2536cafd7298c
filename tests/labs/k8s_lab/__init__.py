"""A Kubernetes API server emulator with the EMQX Operator's CRDs, for the operator modules.

    labctl up k8s --workdir DIR [--namespace default] [--containers] [--emqx-blue N --emqx-green M]
                  [--emqx-replicants R] [--operator-version 2.2.29]

No Kubernetes API server can be run here, so the lab serves the API subset the collection
uses (discovery, CRDs, custom objects with the status subresource, merge and JSON patch,
watch, Table output, OpenAPI v3 with server-side field validation, the operator's Deployment)
on a loopback port and writes a kubeconfig that both the ``kubernetes``
Python client and ``kubectl`` use unchanged. Objects persist in DIR/objects.json, so a
restart of the API server keeps them.
"""
from k8s_lab.lab import add_arguments, down, fault, status, up  # noqa: F401
