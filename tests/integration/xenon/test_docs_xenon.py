"""Every Xenon example of README.md, docs/ and the role READMEs runs against the lab as written, with
only the node URLs, node groups, hook paths and file paths replaced, in check mode: each prints its
plan (with what it would copy) and changes nothing - no migration task, the same documents on both
groups, the load balancer still on blue, no journal and no report."""
import json
import os

import pytest

from xenontest import ROOT, documents, seed
from test_xenon_side_by_side import migration_tasks, served_by  # pylint: disable=import-error

import docs_examples  # pylint: disable=import-error

pytestmark = pytest.mark.timeout(300)
HOOKS = os.path.join(ROOT, "playbooks", "hooks")


@pytest.mark.slow
def test_every_xenon_example_plans_against_the_lab_and_changes_nothing(lab_factory, tmp_path):
    lab = lab_factory("xenon", "--blue", 1, "--green", 1)
    seed(lab, 50)
    before = documents(lab, "blue"), documents(lab, "green")
    lab_json = tmp_path / "xenon-lab.json"
    lab_json.write_text(json.dumps(lab.description))
    green, blue = lab.description["green"], lab.description["blue"]
    values = {
        "https://green-1:8000/core/node-groups/default": green["node_group"],
        "https://blue-1:8000/core/node-groups/default": blue["node_group"],
        "https://green-1:8000": green["nodes"][0]["url"],
        "playbooks/": os.path.join(ROOT, "playbooks") + os.sep,
        "/tmp/xenon-lab.json": str(lab_json),
        "/srv/xenon/report.json": str(tmp_path / "report.json"),
    }
    for hook in ("enter_window", "switch", "exit_window", "rollback"):
        values["xenon_side_by_side_hook_%s=..." % hook] = "xenon_side_by_side_hook_%s=%s" % (hook, os.path.join(HOOKS, "xenon_lab_%s.yml" % hook))
        values["{{ playbook_dir }}/lb/%s.yml" % hook] = os.path.join(HOOKS, "xenon_lab_%s.yml" % hook)
    examples = docs_examples.runnable("xenon")
    assert len(examples) >= 3, examples
    for doc, kind, text in examples:
        text = docs_examples.replace(text, values)
        run = docs_examples.run_command(text, str(tmp_path)) if kind == "command" else docs_examples.run_play(text, str(tmp_path))
        out = docs_examples.output(run)
        assert run.returncode == 0, "%s: %s\n%s" % (doc, text, out[-3000:])
        assert "check mode: nothing was changed" in out.lower(), (doc, out[-3000:])
        assert "50 documents" in out, "the plan says how much would be copied: " + out[-3000:]
    assert migration_tasks(lab) == [], "check mode started a migration"
    assert (documents(lab, "blue"), documents(lab, "green")) == before
    assert served_by(lab, "check")[0] == "blue"
    assert sorted(os.listdir(tmp_path)) == ["example.yml", "xenon-lab.json"], "check mode wrote %s" % os.listdir(tmp_path)
