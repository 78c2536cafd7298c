"""Every role entry point loads under Ansible's strictest YAML settings: a duplicate mapping key
(for example an option overridden after a ``<<:`` merge) is only a warning by default, so it
would slip through every other test, but ``ANSIBLE_DUPLICATE_YAML_DICT_KEY=error`` makes it fatal
for users who set it."""
import glob
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _entry_points():
    for spec in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec.split(os.sep)[-3]
        with open(spec) as handle:
            for entry in yaml.safe_load(handle)["argument_specs"]:
                yield role, entry


def test_every_entry_point_loads_with_duplicate_keys_fatal(tmp_path):
    entries = list(_entry_points())
    assert len(entries) >= 4, entries
    # import_role loads the role (tasks, defaults, argument specs) when the playbook is parsed;
    # `when: false` then keeps every task from running.
    tasks = [{"name": "Load %s %s" % (role, entry), "ansible.builtin.import_role":
              {"name": "zerodowntime.cluster." + role, "tasks_from": entry}, "when": False} for role, entry in entries]
    playbook = tmp_path / "load.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Load every entry point", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    env = dict(os.environ, ANSIBLE_DUPLICATE_YAML_DICT_KEY="error", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          str(playbook)], env=env, capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "duplicate" not in output.lower(), output[-4000:]
    assert output.count("skipping: [localhost]") >= len(entries), output[-4000:]


DUMMIES = {"str": "x", "path": "/nonexistent", "int": 1, "float": 1.0, "bool": False, "list": ["x"], "dict": {"x": "x"}, "raw": "x"}


def test_every_entry_point_refuses_a_misspelt_input_before_anything_runs(tmp_path):
    """``-e emqx_blue_green_reconect_budget=100`` would run the default budget without a word:
    every entry point refuses it first, naming the input that was meant."""
    tasks, expected = [], []
    for role, entry in _entry_points():
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
            options = yaml.safe_load(handle)["argument_specs"][entry]["options"]
        required = {name: (spec.get("choices") or [DUMMIES[spec.get("type", "str")]])[0] for name, spec in options.items() if spec.get("required")}
        meant = sorted(name for name in options if not name.startswith(role + "__") and len(name) > len(role) + 8)[0]
        typo = meant[:-3] + meant[-2:]  # one letter dropped near the end
        expected.append((role, entry, typo, meant))
        tasks.append({"name": "Try %s %s" % (role, entry), "block": [
            {"name": "Run %s %s" % (role, entry), "ansible.builtin.include_role":
             {"name": "zerodowntime.cluster." + role, "tasks_from": entry}, "vars": dict(required, **{typo: 1})},
            {"name": "Not reached", "ansible.builtin.fail": {"msg": "%s %s ran with %s" % (role, entry, typo)}}],
            "rescue": [{"name": "Say why %s %s stopped" % (role, entry),
                        "ansible.builtin.debug": {"msg": "STOPPED %s %s: {{ ansible_failed_result.msg }}" % (role, entry)}}]})
    playbook = tmp_path / "typos.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Misspelt inputs", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          str(playbook)], env=env, capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    for role, entry, typo, meant in expected:
        assert "STOPPED %s %s: %s is not an input of zerodowntime.cluster.%s; did you mean %s?" % (role, entry, typo, role, meant) \
            in output, output[-4000:]
    assert "ran with" not in output


def test_a_shipped_playbook_names_a_missing_required_input_on_one_line(tmp_path):
    """Leaving out a required input (here with a misspelt name in its place) gets one line naming
    it and the name that was meant, before the role starts; the role's own argument validation
    would print its whole argument spec after that line. Each run below fails in its first task."""
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    runs = {
        "xenon_side_by_side.yml": (["-e", "xenon_side_by_side_factorys=/core/examples"],
                                   "zerodowntime.cluster.xenon_side_by_side (entry point main) needs xenon_side_by_side_source_node_group, "
                                   "xenon_side_by_side_destination_node_group, xenon_side_by_side_factories, ",
                                   "xenon_side_by_side_factorys is not an input of zerodowntime.cluster.xenon_side_by_side; "
                                   "did you mean xenon_side_by_side_factories?"),
        "emqx_operator_upgrade.yml": (["-e", "emqx_operator_upgrade_name=emqx-ee"],
                                      "zerodowntime.cluster.emqx_operator_upgrade (entry point main) needs emqx_operator_upgrade_image, "
                                      "which is not set.", "Its inputs: ansible-doc -t role zerodowntime.cluster.emqx_operator_upgrade."),
        "emqx_operator_rollback.yml": ([], "zerodowntime.cluster.emqx_operator_upgrade (entry point rollback) needs "
                                           "emqx_operator_upgrade_name, which is not set.", ""),
    }
    for playbook, (extra, first, second) in runs.items():
        run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(ROOT, "playbooks", playbook)]
                             + extra, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=str(tmp_path))
        output = run.stdout + run.stderr
        assert run.returncode != 0, output[-3000:]
        assert "Refused before anything changed: " + first in output and second in output, output[-3000:]
        assert "argument_spec_data" not in output and "Validating arguments against arg spec" not in output, output[-3000:]
        assert not os.listdir(tmp_path), "the refused run wrote %s" % os.listdir(tmp_path)
