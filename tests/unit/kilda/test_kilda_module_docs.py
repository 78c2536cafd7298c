"""The Kilda modules take the descriptions of their check_mode/diff_mode attributes from the
collection's shared attributes doc fragment (as the EMQX modules do) and declare only what is
their own: the support level, which must stay truthful for each module."""
import inspect
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.zerodowntime.cluster.plugins.modules import kilda_kafka_offsets, kilda_zk_info, kilda_zk_signal

SHARED = {"zerodowntime.cluster.attributes", "zerodowntime.cluster.attributes.info_module"}
# module -> (check_mode support, diff_mode support, action group or None)
TRUTH = {
    kilda_zk_signal: ("full", "full", "zerodowntime.cluster.kilda"),  # plans the same transaction; returns diff
    kilda_zk_info: ("full", "N/A", "zerodowntime.cluster.kilda"),  # only reads
    kilda_kafka_offsets: ("full", "none", None),  # lists and predicts; returns no diff
}
IDS = [m.__name__.rsplit(".", 1)[-1] for m in TRUTH]


@pytest.fixture(scope="module")
def rendered():
    """What ansible-doc shows for the three modules, fragments merged."""
    names = ["zerodowntime.cluster." + name for name in IDS]
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    out = subprocess.run([ansible_doc, "-j"] + names, capture_output=True, text=True, check=True, timeout=120).stdout
    return {name.rsplit(".", 1)[-1]: doc["doc"] for name, doc in json.loads(out).items()}


@pytest.mark.parametrize("module", list(TRUTH), ids=IDS)
def test_attributes_come_from_the_shared_fragment(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert SHARED & set(doc.get("extends_documentation_fragment") or []), "extend zerodowntime.cluster.attributes"
    for name in ("check_mode", "diff_mode"):
        assert "description" not in (doc.get("attributes") or {}).get(name, {}), \
            "%s: the description comes from the fragment, not from the module" % name


@pytest.mark.parametrize("module", list(TRUTH), ids=IDS)
def test_documented_support_is_truthful(module, rendered):
    check_mode, diff_mode, group = TRUTH[module]
    attributes = rendered[module.__name__.rsplit(".", 1)[-1]]["attributes"]
    assert attributes["check_mode"]["support"] == check_mode and attributes["check_mode"]["description"]
    assert attributes["diff_mode"]["support"] == diff_mode and attributes["diff_mode"]["description"]
    assert attributes["idempotent"]["support"] == "full"
    source = inspect.getsource(module.main)
    assert ("supports_check_mode=True" in source) == (check_mode == "full")
    if group:
        assert attributes["action_group"]["membership"] == [group]
    else:
        assert "action_group" not in attributes


def test_action_group_membership_matches_meta_runtime():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    with open(os.path.join(root, "meta", "runtime.yml")) as handle:
        groups = yaml.safe_load(handle)["action_groups"]
    for module, (_check, _diff, group) in TRUTH.items():
        name = module.__name__.rsplit(".", 1)[-1]
        assert (name in groups["kilda"]) == (group == "zerodowntime.cluster.kilda"), name
