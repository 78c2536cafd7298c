"""hook_problems finds, before anything changes, the hooks that would fail only when their turn comes."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.cluster.plugins.filter.hooks import hook_problems


def test_every_hook_that_is_set_and_found_passes(tmp_path):
    (tmp_path / "switch.yml").write_text("---\n")
    absolute = tmp_path / "enter.yml"
    absolute.write_text("---\n")
    hooks = {"r_hook_switch": "switch.yml", "r_hook_enter": str(absolute), "r_hook_optional": ""}
    assert hook_problems(hooks, [str(tmp_path)], required=["r_hook_switch", "r_hook_enter"]) == []


def test_a_required_hook_not_set_and_a_missing_file_are_named(tmp_path):
    problems = hook_problems({"r_hook_switch": "", "r_hook_enter": "nowhere.yml", "r_hook_rollback": str(tmp_path / "gone.yml")},
                             [str(tmp_path)], required=["r_hook_switch"])
    assert problems == [
        "r_hook_enter names nowhere.yml, which is not a file (looked in ., %s)" % tmp_path,
        "r_hook_rollback names %s, which is not a file" % (tmp_path / "gone.yml"),
        "r_hook_switch is not set: it must name the task file to run",
    ]


def test_an_optional_hook_left_empty_is_fine():
    assert hook_problems({"r_hook_rollback": ""}) == []


def test_anything_but_a_dict_is_refused():
    with pytest.raises(AnsibleFilterError):
        hook_problems(["x.yml"])
