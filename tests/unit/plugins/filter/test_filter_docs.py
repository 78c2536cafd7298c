"""Every filter of the collection has its documentation next to it (plugins/filter/<name>.yml), and
the documented positional arguments are the function's own."""
import glob
import importlib
import inspect
import os

import pytest
import yaml

FILTER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "plugins", "filter")
FILES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(FILTER_DIR, "*.py")))
FILTERS = [(f, name, func) for f in FILES
           for name, func in importlib.import_module("ansible_collections.zerodowntime.cluster.plugins.filter." + f).FilterModule().filters().items()]


@pytest.mark.parametrize("plugin_file, name, func", FILTERS, ids=[name for _f, name, _func in FILTERS])
def test_filter_is_documented_with_its_arguments(plugin_file, name, func):
    path = os.path.join(FILTER_DIR, name + ".yml")
    assert os.path.exists(path), "%s (in %s.py) has no %s.yml" % (name, plugin_file, name)
    with open(path, encoding="utf-8") as handle:
        docs = yaml.safe_load(handle)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    doc = docs["DOCUMENTATION"]
    assert doc["name"] == name
    positional = [arg.strip() for arg in doc["positional"].split(",")]
    params = list(inspect.signature(func).parameters.values())
    assert len(positional) == len(params), (positional, [p.name for p in params])
    assert positional[1:] == [p.name for p in params[1:]]
    assert set(doc["options"]) == set(positional)
    for param in params[1:]:
        # an argument with a default in Python is optional in the documentation, and the other way round
        assert doc["options"][param.name].get("required", False) is (param.default is inspect.Parameter.empty), param.name
    assert "zerodowntime.cluster." + name in docs["EXAMPLES"]
