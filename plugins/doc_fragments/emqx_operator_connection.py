# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. Without it (and without O(context) and O(host)), the pod's service account is used
        when the module runs in a Kubernetes pod (in-cluster configuration, as an AWX container group runs a job),
        else C(KUBECONFIG) or C(~/.kube/config), as kubectl does; the same order as the C(kubernetes.core) collection.
      - The same option and environment variable as the C(kubernetes.core) collection, so AWX's Kubernetes
        credential works unchanged.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use (default - its current context).
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Overrides the kubeconfig's server; alone, no kubeconfig is read.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token for the API server. Overrides the kubeconfig's credentials.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Default - what the kubeconfig says (verify unless it sets
        C(insecure-skip-tls-verify)), else true.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate file (PEM) that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate file (PEM) for API servers that authenticate clients with certificates.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Private key file (PEM) of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to the API server, for example C(http://proxy.internal:3128).
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts and domains reached without O(proxy).
      - Can also be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
requirements:
  - kubernetes >= 24.2.0 (Python library)
"""

    # Module group: set the Kubernetes connection once for every EMQX Operator module with
    # module_defaults: {group/zerodowntime.cluster.emqx_operator: {...}}
    ACTIONGROUP_EMQX_OPERATOR = r"""
attributes:
  action_group:
    description: Use C(group/zerodowntime.cluster.emqx_operator) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - zerodowntime.cluster.emqx_operator
"""

    # The EMQX management API some operator modules may also use; each module documents its emqx_api_url.
    EMQX_API = r"""
options:
  emqx_api_key:
    description:
      - EMQX API key.
      - Can also be set with the E(EMQX_API_KEY) environment variable.
    type: str
  emqx_api_secret:
    description:
      - EMQX API secret.
      - Can also be set with the E(EMQX_API_SECRET) environment variable.
    type: str
  emqx_validate_certs:
    description:
      - Verify the EMQX API's TLS certificate.
      - Can also be set with the E(EMQX_VALIDATE_CERTS) environment variable.
    type: bool
    default: true
  emqx_ca_path:
    description:
      - CA bundle for the EMQX API.
      - Can also be set with the E(EMQX_CA_PATH) environment variable.
    type: path
"""
