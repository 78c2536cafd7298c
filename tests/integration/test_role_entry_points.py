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
