"""The roles' argument specs show the defaults the role really has (defaults/main.yml): a
literal default is the same value; a default read from an environment variable is not shown as a
literal, does not make the variable required, and the description (and the README / runbook
tables) say which variable supplies it and what happens when it is unset."""
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ["xenon_side_by_side", "emqx_blue_green"]
ENV_LOOKUP = re.compile(r"lookup\(\s*['\"](?:ansible\.builtin\.)?env['\"]\s*,\s*['\"](\w+)['\"]")


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


def spec_options(role):
    specs = yaml.safe_load(load("roles", role, "meta", "argument_specs.yml"))["argument_specs"]
    return specs["main"]["options"]


def defaults(role):
    return yaml.safe_load(load("roles", role, "defaults", "main.yml"))


def env_defaults(role):
    """variable -> environment variable its default is read from."""
    out = {}
    for name, value in defaults(role).items():
        match = ENV_LOOKUP.search(value) if isinstance(value, str) else None
        if match:
            out[name] = match.group(1)
    return out


def description(option):
    text = option.get("description") or ""
    return " ".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("role", ROLES)
def test_env_derived_defaults_are_described_not_stated(role):
    options = spec_options(role)
    derived = env_defaults(role)
    assert derived, "the role has environment-derived defaults"
    for name, env in derived.items():
        option = options[name]
        assert "default" not in option, "%s: its default comes from $%s, not a literal" % (name, env)
        assert not option.get("required"), "%s: not required, $%s supplies it" % (name, env)
        text = description(option)
        assert "E(%s)" % env in text, "%s: say that $%s supplies the default" % (name, env)
        assert "unset" in text or "neither is set" in text, "%s: say what happens when $%s is unset" % (name, env)


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_match_defaults_main(role):
    options = spec_options(role)
    derived = env_defaults(role)
    for name, value in defaults(role).items():
        if name in derived or name not in options or options[name].get("required"):
            continue  # required inputs have placeholders ("" / []) in defaults/main.yml
        assert options[name].get("default") == value, "%s: spec default %r, role default %r" % (
            name, options[name].get("default"), value)


@pytest.mark.parametrize("role, doc", [("xenon_side_by_side", "roles/xenon_side_by_side/README.md"),
                                       ("xenon_side_by_side", "docs/xenon_side_by_side.md"),
                                       ("emqx_blue_green", "roles/emqx_blue_green/README.md"), ("emqx_blue_green", "docs/emqx_blue_green.md")])
def test_input_tables_name_the_variable_and_what_unset_means(role, doc):
    rows = [line for line in load(*doc.split("/")).splitlines() if line.startswith("| `%s_" % role)]
    for name, env in env_defaults(role).items():
        row = [r for r in rows if "`%s`" % name in r.split("|")[1]]
        assert row, "%s: %s has no row" % (doc, name)
        cells = [c.strip() for c in row[0].split("|")[1:-1]]
        default = [c for c in cells[1:-1] if "`$%s`" % env in c]  # the default column, wherever the table has it
        assert default and "required" not in default[0], (doc, name, cells)
        assert "unset" in cells[-1], "%s: %s - say what happens when $%s is unset" % (doc, name, env)
