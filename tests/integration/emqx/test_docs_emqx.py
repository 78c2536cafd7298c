"""Every EMQX example of README.md, docs/ and the role READMEs runs against the lab as written, with
only endpoints, credentials and hook paths replaced, in check mode (each would change the cluster)."""
import os

import pytest

from emqxtest import LABS, cluster  # pylint: disable=import-error

import docs_examples  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(420)


def replacements(lab):
    description = lab.description
    nodes = {(n["colour"], int(n["member"].rsplit("-", 1)[1])): n for n in description["nodes"]}
    server = {node: name for name, node in description["lb"]["servers"].items()}
    creds = description["credentials"]
    out = {
        # the quick start's three nodes: two blue, and a green one that runs already
        "https://emqx-1.example.com:18083": nodes[("blue", 1)]["api_url"],
        "emqx@emqx-1.example.com": nodes[("blue", 1)]["name"],
        "emqx@emqx-2.example.com": nodes[("blue", 2)]["name"],
        "emqx@emqx-3.example.com": nodes[("green", 1)]["name"],
        "emqx_blue_green_api_key=...": "emqx_blue_green_api_key=" + creds["api_key"],
        "emqx_blue_green_api_secret=...": "emqx_blue_green_api_secret=" + creds["api_secret"],
        "/run/haproxy/admin.sock": description["lb"]["runtime_socket"],
        "mqtt.example.com": description["lb"]["mqtt_host"],
        "emqx_blue_green_mqtt_port=1883": "emqx_blue_green_mqtt_port=%d" % description["lb"]["mqtt_port"],
        "emqx_blue_green_mqtt_port: 1883": "emqx_blue_green_mqtt_port: %d" % description["lb"]["mqtt_port"],
        "/path/deploy_green.yml": os.path.join(LABS, "hooks", "emqx_start_nodes.yml"),
        "/path/remove_blue.yml": os.path.join(LABS, "hooks", "emqx_stop_nodes.yml"),
        "{{ playbook_dir }}/deploy_green.yml": os.path.join(LABS, "hooks", "emqx_start_nodes.yml"),
        "{{ playbook_dir }}/remove_blue.yml": os.path.join(LABS, "hooks", "emqx_stop_nodes.yml"),
    }
    # the runbook's inventory: 10.0.1.x are blue, 10.0.2.x green, servers b1, b2, g1, g2
    for (colour, index), node in nodes.items():
        address = "10.0.%d.%d" % (1 if colour == "blue" else 2, index)
        out["emqx@%s" % address] = node["name"]
        out["https://%s:18083" % address] = node["api_url"]
        out["emqx_lb_server: %s%d}" % (colour[0], index)] = "emqx_lb_server: %s}" % server[node["name"]]
        out["lb_server: %s%d}" % (colour[0], index)] = "lb_server: %s}" % server[node["name"]]  # a fleet's node lists
    return out


@pytest.mark.slow
def test_every_emqx_example_runs_against_the_lab_in_check_mode(lab_factory, tmp_path):
    lab = lab_factory("emqx", "--blue", 2, "--green", 2, "--start-green")
    values = replacements(lab)
    creds = lab.description["credentials"]
    vault = {"vault_emqx_api_key": creds["api_key"], "vault_emqx_api_secret": creds["api_secret"]}
    # the inventory the blue-green command names is the runbook's
    inventory = docs_examples.fragment("docs/emqx_blue_green.md", "all:")
    (tmp_path / "inventory.yml").write_text(docs_examples.replace(inventory, values))
    # and the fleet's, one host per cluster (its commands take no vault: the secrets go in as they are)
    fleet = docs_examples.fragment("docs/fleet.md", "all:")
    secrets = {"{{ %s }}" % name: value for name, value in vault.items()}
    (tmp_path / "fleet.yml").write_text(docs_examples.replace(fleet, dict(values, **secrets)))
    examples = docs_examples.runnable("emqx")
    assert len(examples) >= 3, examples
    for doc, kind, text in examples:
        text = docs_examples.replace(text, values)
        if kind == "command":
            run = docs_examples.run_command(text, str(tmp_path))
        else:
            run = docs_examples.run_play(text, str(tmp_path), extra_vars=vault, inventory=str(tmp_path / "inventory.yml"))
        out = docs_examples.output(run)
        assert run.returncode == 0, "%s: %s\n%s" % (doc, text, out[-3000:])
        if "emqx_blue_green" in text:
            assert "Check mode: nothing was changed." in out, (doc, out[-3000:])
    info = cluster(lab.description)
    assert info["evacuations"] == [] and len(info["running_nodes"]) == 4, "check mode changed the lab: %s" % info
    assert not os.path.exists(tmp_path / "emqx-blue-green-report" / "emqx_blue" / "journal.json"), "check mode wrote a journal"
    assert not os.path.exists(tmp_path / "fleet-report"), "the fleet's check mode wrote its plan, a report or a journal"
