"""Shared pytest set-up: the collection is importable as ansible_collections.zerodowntime.cluster
(through the tree that ``make`` builds in .build/collections) and the labs are importable from
tests/labs. ``lab`` starts any lab through labctl and always stops it."""
import contextlib
import json
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LABS = os.path.join(ROOT, "tests", "labs")
LABCTL = os.path.join(LABS, "labctl")

for extra in (COLLECTIONS, LABS):
    if extra not in sys.path:
        sys.path.insert(0, extra)
# Ansible run by the tests finds this tree's collection even when pytest is started without make.
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS)
# Ansible settings for every playbook and module the tests run (see the file).
os.environ.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "tests", "ansible.cfg"))
# Modules run by the tests reuse the bytecode of what they import from their AnsiballZ zip
# (tests/tools/zdt_ansiballz_bytecode_cache.py; `make` installs it into the virtualenv).
os.environ.setdefault("ZDT_ANSIBALLZ_CACHE", os.path.join(ROOT, ".build", "ansiballz-cache"))
# ... and the playbook runs share the module payloads they build (same file).
try:
    import zdt_ansiballz_bytecode_cache
except ImportError:  # a virtualenv that `make` did not set up: every run builds its own
    pass
else:
    os.environ.setdefault("ZDT_ANSIBALLZ_ZIP_CACHE", zdt_ansiballz_bytecode_cache.zip_cache_dir(
        os.path.join(ROOT, ".build", "ansiballz-payloads"), ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes 5 s or more; `make test-fast` leaves it out, `make test` runs it")
    config.addinivalue_line("markers", "long: takes a minute or more on 2 cores; scheduled before the others")


def pytest_collection_modifyitems(session, config, items):
    """The longest tests first, then the slow ones: with `--dist load --maxschedchunk 1` each
    worker that is free takes the next test, so the long ones run side by side from the start
    instead of one of them running on alone at the end of the stage (the order within each group is
    kept)."""
    del session, config

    def rank(item):
        return 0 if item.get_closest_marker("long") else 1 if item.get_closest_marker("slow") else 2

    items[:] = sorted(items, key=rank)


def labctl(*args, timeout=300):
    """Run labctl and return its JSON output (raises with the lab's stderr on failure)."""
    proc = subprocess.run(
        [sys.executable, LABCTL] + [str(a) for a in args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError("labctl %s failed (%s):\n%s\n%s" % (" ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
    return json.loads(proc.stdout) if proc.stdout.strip() else None


class Lab:
    """A running lab: ``description`` is labctl's JSON; ``fault`` injects faults; ``status`` re-reads."""

    def __init__(self, workdir, description):
        self.workdir = workdir
        self.description = description

    def status(self):
        self.description = labctl("status", "--workdir", self.workdir)
        return self.description

    def fault(self, action, target, *options):
        return labctl("fault", action, target, *options, "--workdir", self.workdir)

    def down(self):
        labctl("down", "--workdir", self.workdir)


@contextlib.contextmanager
def _labs():
    started = []

    def start(name, *args):
        workdir = tempfile.mkdtemp(prefix="zdt-%s-" % name)
        description = labctl("up", name, *args, "--workdir", workdir)
        lab = Lab(workdir, description)
        started.append(lab)
        return lab

    try:
        yield start
    finally:
        for lab in reversed(started):
            try:
                lab.down()
            except Exception as exc:  # keep tearing the others down
                sys.stderr.write("lab teardown failed: %s\n" % exc)


@pytest.fixture
def lab_factory():
    """``lab_factory("emqx", "--blue", 3)`` starts a lab in a fresh workdir; all are stopped at teardown."""
    with _labs() as start:
        yield start


@pytest.fixture(scope="module")
def module_lab_factory():
    """Like ``lab_factory``, for a lab that every test of a module shares: the module restores the
    lab to a known state before each test (a fixture of its own), so only tests that need a fresh
    cluster pay for starting one."""
    with _labs() as start:
        yield start
