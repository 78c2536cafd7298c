"""Reading the collection's own files in tests: YAML under the repository root, the inputs a role
knows (as role_inputs_check computes them), what a role left in its report directory, and what a
run handed to the job's artifacts."""
import json
import os

import yaml

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.role_inputs import known_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_yaml(*parts):
    """The YAML file at ROOT/<parts>, {} when it is missing or empty."""
    path = os.path.join(ROOT, *parts)
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def role_inputs(role, extra=()):
    """Every input name of ``role``: its argument specs' options, defaults, vars, and ``extra``."""
    return known_inputs(read_yaml("roles", role, "meta", "argument_specs.yml").get("argument_specs"),
                        read_yaml("roles", role, "defaults", "main.yml"), read_yaml("roles", role, "vars", "main.yml"), extra)


def saved(report_dir):
    """{file name: content} of what a role keeps in its report directory."""
    found = {}
    for name in sorted(os.listdir(report_dir)):
        with open(os.path.join(report_dir, name)) as handle:
            found[name] = handle.read()
    return found


# What AWX and ansible-runner keep as a job's artifacts, as the default callback prints it with
# ANSIBLE_SHOW_CUSTOM_STATS=1: a "CUSTOM STATS" banner, then "\tRUN: <JSON on one line>".
SHOW_CUSTOM_STATS = {"ANSIBLE_SHOW_CUSTOM_STATS": "1"}


def custom_stats(stdout):
    """The set_stats data of a run (per_host: false) from ansible-playbook's output; {} if none."""
    if "CUSTOM STATS" not in stdout:
        return {}
    for line in stdout.split("CUSTOM STATS", 1)[1].splitlines():
        if line.strip().startswith("RUN:"):
            return json.loads(line.split("RUN:", 1)[1])
    return {}
