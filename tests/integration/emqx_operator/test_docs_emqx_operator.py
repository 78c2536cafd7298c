"""Every EMQX Operator example of README.md, docs/ and the role READMEs runs against the k8s lab as
written, with only the namespace, endpoints and credentials replaced, in check mode: each prints
its plan and changes nothing (the EMQX resource, the report directory)."""
import json
import os
import shutil

import pytest

pytest.importorskip("kubernetes")
from kubectl_run import kubectl  # noqa: E402  pylint: disable=import-error,wrong-import-position
from test_emqx_operator_procedure import NEW, OPERATOR_2_3, create_ready  # noqa: E402  pylint: disable=import-error,wrong-import-position

import docs_examples  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.timeout(420), pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]


@pytest.mark.slow
def test_every_emqx_operator_example_plans_against_the_lab_and_changes_nothing(lab_factory, tmp_path):
    # (the quick start needs an EMQX resource that the operator manages, as the runbook says)
    lab = lab_factory("k8s", "--emqx-blue", 2, "--emqx-green", 2, *OPERATOR_2_3)
    create_ready(lab)
    emqx = lab.description["emqx"]
    api_url = next(n["api_url"] for n in emqx["nodes"] if n["colour"] == "blue")
    creds = emqx["credentials"]
    values = {
        "emqx_operator_upgrade_namespace=emqx": "emqx_operator_upgrade_namespace=default",
        "emqx_operator_upgrade_namespace: emqx": "emqx_operator_upgrade_namespace: default",
        "http://emqx-ee-dashboard.emqx.svc:18083": api_url,
        "emqx_operator_upgrade_emqx_api_url=...": "emqx_operator_upgrade_emqx_api_url=" + api_url,
        "emqx_operator_upgrade_emqx_api_key=...": "emqx_operator_upgrade_emqx_api_key=" + creds["api_key"],
        "emqx_operator_upgrade_emqx_api_secret=...": "emqx_operator_upgrade_emqx_api_secret=" + creds["api_secret"],
    }
    vault = {"vault_emqx_api_key": creds["api_key"], "vault_emqx_api_secret": creds["api_secret"]}
    before = json.loads(kubectl(lab, "get", "emqx", "emqx-ee", "-o", "json"))["spec"]
    examples = docs_examples.runnable("emqx_operator")
    assert len(examples) >= 4, examples
    upgrades = 0
    for doc, kind, text in examples:
        text = docs_examples.replace(text, values)
        # the runbook's `export K8S_AUTH_KUBECONFIG=...`, pointing at the lab
        kubeconfig = {"K8S_AUTH_KUBECONFIG": lab.description["kubeconfig"]}
        if kind == "command":
            run = docs_examples.run_command(text, str(tmp_path), extra_env=kubeconfig)
        else:
            run = docs_examples.run_play(text, str(tmp_path), extra_vars=vault, extra_env=kubeconfig)
        out = docs_examples.output(run)
        assert run.returncode == 0, "%s: %s\n%s" % (doc, text, out[-3000:])
        assert "Check mode: nothing was changed." in out, (doc, text, out[-3000:])
        if "emqx_operator_upgrade_image" in text:
            upgrades += 1
            assert "A run would ask the operator for %s" % NEW in out and "estimated drain" in out, out[-3000:]
    assert upgrades >= 3, "the README, the runbook and the role README each show an upgrade"
    assert json.loads(kubectl(lab, "get", "emqx", "emqx-ee", "-o", "json"))["spec"] == before, "check mode changed the EMQX resource"
    assert not os.path.exists(tmp_path / "emqx-operator-upgrade-report" / "default-emqx-ee" / "report.json"), "check mode wrote a report"
