"""Stand-in for pip's get-pip.py bootstrap script, used by ansible-test's sanity venvs.

ansible-test bootstraps pip in each fresh virtual environment by downloading get-pip.py from
a host that only reaches machines with open internet access; it uses a cached copy when one
exists. ``make sanity`` caches this file instead, with @OUTER_PYTHON@ replaced by the
project's virtualenv Python, whose current pip installs the requested packages
(``pip==24.2`` and so on) into the new environment through ``pip --python``. pip's own
configuration (index, CA bundle) applies as for any other install.
"""
import os
import subprocess
import sys

# get-pip.py's own switches, which pip install does not know.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}
OUTER_PYTHON = "@OUTER_PYTHON@"

args = [arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]
command = [OUTER_PYTHON, "-m", "pip", "--python", sys.executable, "install"] + args
sys.exit(subprocess.call(command, env=dict(os.environ, PIP_BREAK_SYSTEM_PACKAGES="1")))
