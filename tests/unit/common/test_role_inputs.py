"""A variable that carries a role's prefix but is none of its inputs is refused, with the input
the user most likely meant."""
import os

import pytest

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.role_inputs import (
    describe,
    describe_missing,
    known_inputs,
    missing_required,
    unknown_inputs,
)

from collection_files import ROOT, read_yaml, role_inputs  # pylint: disable=import-error

ROLES = sorted(name for name in os.listdir(os.path.join(ROOT, "roles")) if not name.startswith("."))


def test_inputs_are_every_entry_points_options_the_defaults_the_vars_and_the_extras():
    specs = {"main": {"options": {"r_a": {}, "r_b": {}}}, "rollback": {"options": {"r_c": {}}}, "empty": None}
    assert known_inputs(specs, {"r_d": 1}, {"r_e": 2}, ["r_out"]) == {"r_a", "r_b", "r_c", "r_d", "r_e", "r_out"}


def test_a_misspelt_input_is_found_with_the_input_meant():
    known = {"emqx_blue_green_reconnect_budget", "emqx_blue_green_session_budget"}
    variables = ["emqx_blue_green_reconect_budget", "emqx_blue_green_session_budget", "emqx_lab_workdir",
                 "emqx_blue_green__plan", "inventory_hostname", "emqx_blue_green_zzz"]
    found = unknown_inputs(variables, "emqx_blue_green_", known)
    assert found == [("emqx_blue_green_reconect_budget", "emqx_blue_green_reconnect_budget"), ("emqx_blue_green_zzz", None)]
    message = describe(found, "zerodowntime.cluster.emqx_blue_green")
    assert "emqx_blue_green_reconect_budget is not an input of zerodowntime.cluster.emqx_blue_green; did you mean " \
           "emqx_blue_green_reconnect_budget?" in message
    assert "emqx_blue_green_zzz is not an input" in message and "ansible-doc -t role zerodowntime.cluster.emqx_blue_green" in message


def test_nothing_is_found_when_every_variable_is_an_input():
    assert not unknown_inputs(["r_a", "other", "r__fact"], "r_", {"r_a"})


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_starts_by_checking_the_inputs(role):
    specs = read_yaml("roles", role, "meta", "argument_specs.yml").get("argument_specs") or {}
    assert specs, "role %s has no argument specs" % role
    for entry in specs:
        tasks = read_yaml("roles", role, "tasks", entry + ".yml")
        first = tasks[0] if tasks else {}
        check = first.get("zerodowntime.cluster.role_inputs_check")
        assert check, "the first task of %s/tasks/%s.yml is %s, not the inputs check" % (role, entry, first.get("name"))
        assert check["prefix"] == role + "_"


@pytest.mark.parametrize("role", ROLES)
def test_any_one_letter_typo_of_a_real_input_is_caught_and_the_input_suggested(role):
    known = role_inputs(role)
    prefix = role + "_"
    inputs = sorted(name for name in known if name.startswith(prefix) and not name.startswith(prefix + "_"))
    assert inputs
    for name in inputs:
        tail = len(prefix) + (len(name) - len(prefix)) // 2
        typo = name[:tail] + name[tail + 1:]  # a letter dropped in the middle of what follows the prefix
        if typo in known:
            continue
        assert unknown_inputs([typo], prefix, known) == [(typo, name)], typo


def test_a_missing_required_input_is_named_on_one_line_with_the_misspelt_name_that_was_meant():
    options = {"r_url": {"required": True}, "r_groups": {"required": True, "type": "list"}, "r_wait": {"default": 1}}
    variables = {"r_url": "https://green-1:8000", "r_grups": ["x"], "other": 1}
    missing = missing_required(options, variables)
    assert missing == ["r_groups"]
    message = describe_missing(missing, "zerodowntime.cluster.r", "main", unknown_inputs(variables, "r_", set(options)))
    assert message == ("Refused before anything changed: zerodowntime.cluster.r (entry point main) needs r_groups, which is not set. "
                       "r_grups is not an input of zerodowntime.cluster.r; did you mean r_groups? Its inputs: ansible-doc -t role zerodowntime.cluster.r.")
    assert "\n" not in message
    assert not missing_required(options, dict(variables, r_groups=[]))
