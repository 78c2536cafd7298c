"""Filter files import no heavy client library. Ansible loads the collection's filter files in
the worker process of every task that uses one of its filters, so an import of the kubernetes
client there (a third of a second of CPU) is paid again by each such task of every role."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FILTERS = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "filter")) if name.endswith(".py"))
HEAVY = ("kubernetes", "kazoo", "httpx", "paho", "confluent_kafka")


@pytest.mark.parametrize("name", FILTERS)
def test_a_filter_file_imports_no_client_library(name):
    code = ("import sys, ansible_collections.zerodowntime.cluster.plugins.filter.%s as f; f.FilterModule().filters(); "
            "print(' '.join(m for m in %r if m in sys.modules))" % (name, HEAVY))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # where this run finds the collection
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert out == "", "plugins/filter/%s.py imports %s" % (name, out)
