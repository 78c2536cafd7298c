"""The test-only bytecode cache for modules imported from zips (tests/tools): it must change how
often Python compiles, never what runs."""
import hashlib
import marshal
import os
import subprocess
import sys
import zipfile

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")

# What an AnsiballZ payload does: put the zip first on sys.path and import from it.
IMPORT_FROM_ZIP = """
import sys, zdt_ansiballz_bytecode_cache
sys.path.insert(0, sys.argv[1])
import payload
print(payload.VALUE)
payload.fail()
"""


def _payload(tmp_path, value):
    path = tmp_path / ("payload-%s.zip" % value)
    source = "VALUE = %r\n\n\ndef fail():\n    raise RuntimeError('from the zip')\n" % value
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload.py", source)
    return str(path), source.encode()


def _run(zip_path, cache_dir=None):
    env = dict(os.environ, PYTHONPATH=TOOLS)
    env.pop("ZDT_ANSIBALLZ_CACHE", None)
    if cache_dir:
        env["ZDT_ANSIBALLZ_CACHE"] = str(cache_dir)
    return subprocess.run([sys.executable, "-c", IMPORT_FROM_ZIP, zip_path], env=env, capture_output=True, text=True, check=False, timeout=60)


def _entries(cache_dir):
    return sorted(name for name in os.listdir(cache_dir) if not name.endswith(".partial"))


def test_without_the_variable_nothing_is_cached(tmp_path):
    zip_path = _payload(tmp_path, 1)[0]
    proc = _run(zip_path)
    assert proc.stdout.splitlines() == ["1"]
    assert not (tmp_path / "cache").exists()


def test_the_cached_code_is_what_runs_and_a_changed_source_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    zip_path, source = _payload(tmp_path, 1)
    first = _run(zip_path, cache)
    assert first.stdout.splitlines() == ["1"]
    [entry] = _entries(cache)
    assert entry.startswith(hashlib.sha256(source).hexdigest())

    # A later run takes the code from the cache: swap in code that prints something else.
    with open(cache / entry, "wb") as handle:
        marshal.dump(compile("VALUE = 'from the cache'\ndef fail():\n    pass\n", "payload.py", "exec"), handle)
    assert _run(zip_path, cache).stdout.splitlines() == ["from the cache"]

    # Another source never gets that entry.
    other_zip = _payload(tmp_path, 2)[0]
    assert _run(other_zip, cache).stdout.splitlines() == ["2"]
    assert len(_entries(cache)) == 2


def test_tracebacks_keep_their_line_numbers_and_a_broken_entry_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    zip_path = _payload(tmp_path, 1)[0]
    uncached = _run(zip_path)
    _run(zip_path, cache)
    [entry] = _entries(cache)
    with open(cache / entry, "wb") as handle:
        handle.write(b"\x00 not marshal data")
    cached = _run(zip_path, cache)
    assert cached.stdout.splitlines() == ["1"]
    assert "line 5, in fail" in uncached.stderr and "line 5, in fail" in cached.stderr
    assert "RuntimeError: from the zip" in cached.stderr
    with open(cache / entry, "rb") as handle:
        assert marshal.load(handle).co_filename.endswith("payload.py")


# Counts the reads of cached code while one module is imported from a zip.
COUNT_READS = """
import marshal, sys, zdt_ansiballz_bytecode_cache
reads = []
load = marshal.load
marshal.load = lambda handle: reads.append(handle.name) or load(handle)
sys.path.insert(0, sys.argv[1])
import payload
print(payload.VALUE, len(reads))
"""


def test_one_import_reads_the_cached_code_once(tmp_path):
    # Python 3.11's zipimport asks for the code once to find the module and once to run it.
    cache = tmp_path / "cache"
    zip_path = _payload(tmp_path, 1)[0]
    _run(zip_path, cache)
    env = dict(os.environ, PYTHONPATH=TOOLS, ZDT_ANSIBALLZ_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-c", COUNT_READS, zip_path], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert proc.stdout.split() == ["1", "1"], proc.stderr
