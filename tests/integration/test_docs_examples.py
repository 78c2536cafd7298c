"""The examples in README.md, docs/ and the role READMEs stay true: every role variable they name
is an input of its role, every playbook they run exists, and every play they show passes
ansible-playbook's syntax check with this collection. (The roles refuse a misspelt input at run
time; this catches the docs before a user copies them.)"""
import os
import re
import shlex
import subprocess
import sys

import yaml

from collection_files import ROOT, role_inputs  # pylint: disable=import-error
from docs_examples import blocks, plays as plays_of  # pylint: disable=import-error

ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
ROLE_VAR = re.compile(r"\b(%s)_[a-z0-9]\w*" % "|".join(ROLES))
# what the roles set for their hooks and callers (see each entry point's role_inputs_check)
OUTPUTS = {"emqx_blue_green_nodes", "emqx_blue_green_hook_nodes", "emqx_blue_green_summary", "emqx_blue_green_plan",
           "xenon_side_by_side_report", "xenon_side_by_side_plan", "kilda_blue_green_cleanup_result",
           "kilda_blue_green_decision_from", "kilda_blue_green_decision_to", "kilda_blue_green_rollback_result"}


def test_every_role_variable_in_an_example_is_an_input_of_its_role():
    inputs = {role: role_inputs(role, OUTPUTS) for role in ROLES}
    wrong = []
    for path, _lang, body in blocks():
        for match in ROLE_VAR.finditer(body):
            name, role = match.group(0), match.group(1)
            if name.startswith(role + "__") or name in inputs[role]:
                continue
            if os.path.exists(os.path.join(ROOT, "playbooks", name + ".yml")):  # a playbook named after its role
                continue
            if name.endswith("_") or name.endswith("_*"):  # a prefix named in prose, such as kilda_blue_green_hook_
                continue
            wrong.append("%s: %s" % (path, name))
    assert not wrong, "examples name variables that are no role input: %s" % sorted(set(wrong))


def test_every_playbook_an_example_runs_exists():
    missing = []
    for path, _lang, body in blocks():
        for line in body.replace("\\\n", " ").splitlines():
            if "ansible-playbook" not in line:
                continue
            words = shlex.split(line.split("#")[0].split("ansible-playbook", 1)[1], posix=True)
            targets = [w for w in words if w.endswith(".yml") and not w.startswith("@")] or \
                [w for w in words if w.startswith("zerodowntime.cluster.")]
            for target in targets[:1]:
                if target.startswith("zerodowntime.cluster."):
                    exists = os.path.exists(os.path.join(ROOT, "playbooks", target.split(".")[-1] + ".yml"))
                else:
                    exists = os.path.exists(os.path.join(ROOT, target)) or not target.startswith("playbooks/")
                if not exists:
                    missing.append("%s: %s" % (path, target))
    assert not missing, missing


def test_every_play_in_the_docs_passes_the_syntax_check(tmp_path):
    plays = []
    for _path, lang, body in blocks():
        plays.extend(plays_of(lang, body))
    assert len(plays) >= 4, "the docs show fewer plays than expected: %d" % len(plays)
    playbook = tmp_path / "docs.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--syntax-check", str(playbook)],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
