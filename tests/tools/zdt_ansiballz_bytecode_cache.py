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

Where ZDT_ANSIBALLZ_ZIP_CACHE names a directory too, the AnsiballZ payloads themselves are shared
between Ansible processes. Each ansible-playbook run builds the payload of every module it uses
once, in a cache inside its own temporary directory; building one walks the module's imports
(recursive_finder), which took 18% of the CPU of the suite's playbook runs, each of them building
the same payloads again. The shared directory must be one per ansible-core version and collection
content (zip_cache_dir() names it so); Ansible's own lock and atomic rename keep parallel runs
from reading half a payload.
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


def zip_cache_dir(base, collection_root):
    """A directory under ``base`` for the payloads of this ansible-core and this collection content."""
    import hashlib

    from ansible.release import __version__

    digest = hashlib.sha256(__version__.encode())
    for top, dirs, files in os.walk(os.path.join(collection_root, "plugins")):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(top, name)
                digest.update(os.path.relpath(path, collection_root).encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return os.path.join(base, digest.hexdigest()[:20])


def _share_payloads(shared_dir):
    """Once ansible.executor.module_common is imported, point each process's payload cache at
    ``shared_dir`` before the first payload is built (a symbolic link, which Ansible's clean-up of
    its temporary directory removes without following)."""
    import importlib.abc
    import importlib.util

    def patch(module):
        find = getattr(module, "_find_module_utils", None)
        if find is None:
            return

        def find_shared(*args, **kwargs):
            from ansible import constants

            link = os.path.join(constants.DEFAULT_LOCAL_TMP, "ansiballz_cache")
            if not os.path.lexists(link):
                try:
                    os.makedirs(shared_dir, exist_ok=True)
                    os.symlink(shared_dir, link)
                except OSError:
                    pass  # a process of its own then builds its own payloads, as Ansible does
            return find(*args, **kwargs)

        module._find_module_utils = find_shared  # pylint: disable=protected-access

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname != "ansible.executor.module_common":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                patch(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Finder())


if os.environ.get("ZDT_ANSIBALLZ_CACHE"):
    _install(os.environ["ZDT_ANSIBALLZ_CACHE"])
if os.environ.get("ZDT_ANSIBALLZ_ZIP_CACHE"):
    _share_payloads(os.environ["ZDT_ANSIBALLZ_ZIP_CACHE"])
