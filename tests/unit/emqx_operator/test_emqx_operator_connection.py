"""How the connection options combine with a kubeconfig, as kubernetes.core users expect."""
import json

import pytest

pytest.importorskip("kubernetes")

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError  # noqa: E402
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator import connection  # noqa: E402

pytestmark = pytest.mark.timeout(10)


def bearer(config):
    """The Authorization header the client will send (the key name differs between client versions)."""
    return config.auth_settings()["BearerToken"]["value"]


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "one",
        "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}},
                     {"name": "c2", "cluster": {"server": "https://127.0.0.2:6443"}}],
        "users": [{"name": "u", "user": {"token": "from-kubeconfig"}}],
        "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u"}},
                     {"name": "two", "context": {"cluster": "c2", "user": "u"}}],
    }))
    return str(path)


def test_kubeconfig_current_context(kubeconfig):
    config = connection.configuration({"kubeconfig": kubeconfig})
    assert config.host == "https://127.0.0.1:6443"
    assert config.verify_ssl is False
    assert bearer(config) == "Bearer from-kubeconfig"


def test_context_and_explicit_options_override(kubeconfig, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not used until a request")
    config = connection.configuration({"kubeconfig": kubeconfig, "context": "two", "api_key": "explicit",
                                       "validate_certs": True, "ca_cert": str(ca)})
    assert config.host == "https://127.0.0.2:6443"
    assert bearer(config) == "Bearer explicit" and config.refresh_api_key_hook is None
    assert config.verify_ssl is True and config.ssl_ca_cert == str(ca)


def test_host_alone_reads_no_kubeconfig(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    config = connection.configuration({"host": "https://10.0.0.1:6443", "api_key": "t", "validate_certs": False})
    assert config.host == "https://10.0.0.1:6443" and config.verify_ssl is False
    assert bearer(config) == "Bearer t"


def test_unreadable_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationError, match="cannot load the kubeconfig"):
        connection.configuration({"kubeconfig": str(tmp_path / "missing")})


def test_options_take_the_k8s_auth_environment_variables(monkeypatch):
    from ansible.module_utils.basic import AnsibleModule
    from module_args_compat import patch_module_args  # pylint: disable=import-error

    monkeypatch.setenv("K8S_AUTH_HOST", "https://10.1.1.1:6443")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "secret-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "prod")
    with patch_module_args({}):
        module = AnsibleModule(argument_spec=connection.K8S_ARGS)
    assert module.params["host"] == "https://10.1.1.1:6443"
    assert module.params["api_key"] == "secret-token" and module.params["validate_certs"] is False
    assert module.params["context"] == "prod"
    assert "secret-token" in module.no_log_values


def test_in_a_pod_the_service_account_comes_first(monkeypatch, kubeconfig):
    """No kubeconfig, context or host given: in a pod (an AWX container group) the service account
    is used, as kubernetes.core does, even when a kubeconfig exists."""
    def in_cluster(client_configuration):
        client_configuration.host = "https://10.96.0.1:443"
        client_configuration.api_key = {"authorization": "Bearer service-account"}

    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setattr(connection.k8s_config, "load_incluster_config", in_cluster)
    config = connection.configuration({})
    assert config.host == "https://10.96.0.1:443" and bearer(config) == "Bearer service-account"


def test_outside_a_pod_the_kubeconfig_is_used_and_a_given_kubeconfig_always_wins(monkeypatch, kubeconfig):
    calls = []

    def not_in_a_pod(client_configuration):
        calls.append(client_configuration)
        raise connection.ConfigException("Service host/port is not set.")

    # the client reads $KUBECONFIG when it is imported, as a module's fresh process does
    monkeypatch.setattr(connection.k8s_config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.setattr(connection.k8s_config, "load_incluster_config", not_in_a_pod)
    assert connection.configuration({}).host == "https://127.0.0.1:6443" and len(calls) == 1
    assert connection.configuration({"kubeconfig": kubeconfig, "context": "two"}).host == "https://127.0.0.2:6443" and len(calls) == 1


def test_proxy_settings_reach_the_client(kubeconfig):
    config = connection.configuration({"kubeconfig": kubeconfig, "proxy": "http://proxy.internal:3128", "no_proxy": "10.0.0.0/8,.svc"})
    assert config.proxy == "http://proxy.internal:3128" and config.no_proxy == "10.0.0.0/8,.svc"
