"""Reading the collection's own files in tests: YAML under the repository root, the inputs a role
knows (as role_inputs_check computes them), and what a role left in its report directory."""
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
