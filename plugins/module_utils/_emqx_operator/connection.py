# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Kubernetes connection options with kubernetes.core's names and K8S_AUTH_* environment
variables (so AWX's Kubernetes credential works unchanged), and the DynamicClient they build."""

from __future__ import annotations

import json


from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.args import env_fallback
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ApiError, ValidationError

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.dynamic import DynamicClient
    from urllib3.exceptions import HTTPError as Urllib3Error
except ImportError as exc:  # reported by the module with missing_required_lib
    KUBERNETES_IMPORT_ERROR = exc
    ApiException = ConfigException = Urllib3Error = None
else:
    KUBERNETES_IMPORT_ERROR = None

K8S_ARGS = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    no_proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_NO_PROXY"])),
)


def _load_kubeconfig(params, config):
    try:
        k8s_config.load_kube_config(config_file=params.get("kubeconfig"), context=params.get("context"),
                                    client_configuration=config, persist_config=False)
    except (ConfigException, OSError) as exc:
        raise ValidationError("cannot load the kubeconfig %s: %s" % (params.get("kubeconfig") or "(default)", exc))


def configuration(params):
    """A kubernetes client Configuration, in kubernetes.core's order: an explicit kubeconfig or
    context; else, when no O(host) is given either, the pod's service account (in-cluster, as an
    AWX container group runs a job) and then $KUBECONFIG or ~/.kube/config; then every explicit
    option on top."""
    config = k8s_client.Configuration()
    if params.get("kubeconfig") or params.get("context"):
        _load_kubeconfig(params, config)
    elif not params.get("host"):
        try:
            k8s_config.load_incluster_config(client_configuration=config)
        except ConfigException:  # not in a pod (no KUBERNETES_SERVICE_HOST or no service account token)
            _load_kubeconfig(params, config)
    if params.get("host"):
        config.host = params["host"]
    if params.get("api_key"):
        config.api_key = {"authorization": "Bearer " + params["api_key"]}
        config.refresh_api_key_hook = None  # the kubeconfig's token must not replace the one given
    if params.get("validate_certs") is not None:
        config.verify_ssl = params["validate_certs"]
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file"),
                              ("proxy", "proxy"), ("no_proxy", "no_proxy")):
        if params.get(option):
            setattr(config, attribute, params[option])
    return config


def api_error(exc, action):
    """An ApiError naming what was attempted and what the API server answered."""
    if isinstance(exc, ApiException):
        message = exc.reason
        code = exc.reason
        try:
            body = json.loads(exc.body or "{}")
            message = body.get("message") or message
            code = body.get("reason") or code
        except (TypeError, ValueError):
            pass
        return ApiError("%s failed: %s %s: %s" % (action, exc.status, code, message), status=exc.status, code=code,
                        message=message)
    return ApiError("%s failed: %s" % (action, exc))


def connect(params):
    """A DynamicClient; discovery errors become ApiError."""
    config = configuration(params)
    try:
        return DynamicClient(k8s_client.ApiClient(configuration=config))
    except (ApiException, Urllib3Error, OSError) as exc:
        raise api_error(exc, "connecting to the Kubernetes API at %s" % config.host)
