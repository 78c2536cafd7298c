"""The AWX content shipped in extensions/awx stays true to the collection: every job template runs
a playbook that exists, every workflow node names a template of the file, every survey asks for a
variable that the playbook's role (or the fleet playbook) takes, every secret input of a credential
type is marked secret and reaches the job as an environment variable that the collection reads."""
import glob
import os
import re

import pytest
import yaml

from collection_files import ROOT, role_inputs  # pylint: disable=import-error

with open(os.path.join(ROOT, "extensions", "awx", "controller_configuration.yml")) as _handle:
    CONFIG = yaml.safe_load(_handle)
TEMPLATES = {t["name"]: t for t in CONFIG["controller_templates"]}
ROLE_OF_PLAYBOOK = {"emqx_blue_green": "emqx_blue_green", "emqx_operator": "emqx_operator_upgrade", "kilda": "kilda_blue_green",
                    "xenon": "xenon_side_by_side"}
FLEET_VARS = {"fleet_waves", "fleet_soak_seconds", "fleet_max_fail_percentage", "fleet_hosts", "fleet_report_dir", "fleet_name"}


def _source_text():
    texts = []
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "main.yml")):
        with open(path) as handle:
            texts.append(handle.read())
    return "\n".join(texts)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_runs_a_shipped_playbook_and_asks_for_real_inputs(name):
    template = TEMPLATES[name]
    assert os.path.exists(os.path.join(ROOT, template["playbook"])), template["playbook"]
    asked = [q["variable"] for q in (template.get("survey_spec") or {}).get("spec", [])] + list(template.get("extra_vars") or {})
    if not asked:
        return
    stem = os.path.basename(template["playbook"])
    if stem.endswith("_fleet.yml"):  # the fleet's inputs, and those of the role each cluster runs
        known = set(FLEET_VARS) | set(role_inputs(stem[:-len("_fleet.yml")]))
    else:
        role = [r for prefix, r in sorted(ROLE_OF_PLAYBOOK.items(), key=lambda item: -len(item[0])) if stem.startswith(prefix)][0]
        known = role_inputs(role)
    assert not [v for v in asked if v not in known], (name, [v for v in asked if v not in known])


@pytest.mark.parametrize("workflow", CONFIG["controller_workflows"], ids=lambda w: w["name"])
def test_each_workflow_node_names_a_shipped_template_or_an_approval_and_every_edge_a_node(workflow):
    nodes = {n["identifier"]: n for n in workflow["simplified_workflow_nodes"]}
    for node in nodes.values():
        assert ("approval_node" in node) != ("unified_job_template" in node), node
        if "unified_job_template" in node:
            assert node["unified_job_template"] in TEMPLATES, node["unified_job_template"]
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            assert set(node.get(edge, [])) <= set(nodes), (node["identifier"], edge)
    approvals = [n for n in nodes.values() if "approval_node" in n]
    assert approvals and all(n["approval_node"].get("timeout") for n in approvals), "a two-stage procedure waits for a person, not forever"


@pytest.mark.parametrize("cred_type", CONFIG["controller_credential_types"], ids=lambda c: c["name"])
def test_each_credential_type_injects_secrets_as_variables_the_collection_reads(cred_type):
    fields = {f["id"]: f for f in cred_type["inputs"]["fields"]}
    for field_id in ("api_secret", "password", "client_key"):
        if field_id in fields:
            assert fields[field_id].get("secret"), "%s: %s must be secret" % (cred_type["name"], field_id)
    injectors = cred_type["injectors"]
    assert "extra_vars" not in injectors, "secrets go in as environment variables: job events show extra variables"
    source = _source_text()
    for variable, template in injectors["env"].items():
        assert re.search(r"['\"]%s['\"]" % re.escape(variable), source), "%s: nothing reads $%s" % (cred_type["name"], variable)
        for field_id in re.findall(r"\b([a-z_]+)\b", template):
            if field_id in fields or field_id in ("tower", "filename", "default", "if", "else", "is", "defined", "true", "false"):
                continue
            raise AssertionError("%s: $%s names %s, which is no input" % (cred_type["name"], variable, field_id))
    for label, _template in (injectors.get("file") or {}).items():
        assert label.split(".", 1)[1] in fields, label
