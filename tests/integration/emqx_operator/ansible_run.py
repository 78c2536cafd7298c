"""Run a module of the collection and read its JSON result."""
import os

import module_runner  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def run_module(module, args, env=None, check=False, timeout=170):
    """(rc, result) of module zerodowntime.cluster.<module> (module_runner), rc 0 unless it failed."""
    result = module_runner.run(module, args, check=check, env=env, timeout=timeout)
    return (2 if result["failed"] else 0), result
