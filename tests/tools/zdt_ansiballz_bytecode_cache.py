"""Test-only: a bytecode cache for the Python that Ansible modules are imported from.

Ansible ships each module to its target as an AnsiballZ zip and Python imports the module and
every module_utils it needs (ansible.module_utils.basic and its dependencies among them) from that
zip. Python's zipimport never reads or writes bytecode caches, so every module run compiles all
of it again; CPython 3.11 even compiles each file twice, once to find it and once to run it.
Profiling the integration suite showed that about half of a module run's CPU time was that
compiling, and module runs were most of the suite's CPU.

`make` installs this file and a .pth line that imports it into the test virtualenv. It does
nothing unless ZDT_ANSIBALLZ_CACHE names a directory (tests/conftest.py and the Molecule target
set it; `make demo`, `make bench` and users' runs do not), and then only memoises compile():
a code object is keyed by the SHA-256 of its source, the interpreter's cache tag and the
optimisation level, so the code that runs is exactly what compiling that source again would give.
Only the file names inside tracebacks differ: they name the temporary directory of the run that
compiled the file first (both directories are deleted when their run ends).
"""
import os
import sys


def _install(cache_dir):
    try:
        import hashlib
        import marshal
        import zipimport
        compile_source = zipimport._compile_source  # pylint: disable=protected-access
    except (ImportError, AttributeError):
        return  # another Python: leave imports as they are
    flavour = "%s-O%d" % (sys.implementation.cache_tag, sys.flags.optimize)

    # zipimport asks for each file's code twice (to find it, then to run it): the second answer
    # comes from memory, not from reading and unmarshalling the cached file again.
    loaded = {}

    def cached_compile_source(pathname, source):
        path = os.path.join(cache_dir, "%s.%s" % (hashlib.sha256(source).hexdigest(), flavour))
        if path in loaded:
            return loaded[path]
        try:
            with open(path, "rb") as handle:
                loaded[path] = marshal.load(handle)
                return loaded[path]
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = loaded[path] = compile_source(pathname, source)
        try:
            os.makedirs(cache_dir, exist_ok=True)
            partial = "%s.%d.partial" % (path, os.getpid())
            with open(partial, "wb") as handle:
                marshal.dump(code, handle)
            os.replace(partial, path)  # atomic: parallel module runs never read half a file
        except OSError:
            pass
        return code

    zipimport._compile_source = cached_compile_source  # pylint: disable=protected-access


if os.environ.get("ZDT_ANSIBALLZ_CACHE"):
    _install(os.environ["ZDT_ANSIBALLZ_CACHE"])
