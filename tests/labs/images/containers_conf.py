#!/usr/bin/env python
"""Make sure containers.conf holds the few settings the lab containers need, keeping the rest.

    containers_conf.py [PATH]      (default /etc/containers/containers.conf)

Why these settings:
  * ``default_ulimits = []``: as root, podman raises every container's open-files limit to
    1048576 by default; machines whose hard limit is lower (sandboxes, small VMs) then fail
    every ``podman run``. An empty list keeps the limits the caller already has.
  * ``runtime = "runc"``: crun is not installed everywhere; runc is what the packages provide.
  * ``cgroup_manager = "cgroupfs"``: CI machines and containers often run without systemd,
    and the systemd manager then fails to create the container's cgroup.

Only the lines of those keys are touched (or added); comments and other settings stay as they
are. Running it again changes nothing. The result is checked with a TOML parser before it is
written, so a file this script cannot edit safely is left alone with an error.
"""
import os
import re
import sys
import tempfile

try:
    import tomllib
except ImportError:  # Python < 3.11: edit without the final check
    tomllib = None

DEFAULT_PATH = "/etc/containers/containers.conf"
# Values as TOML text, keyed by table.
REQUIRED = {
    "containers": {"default_ulimits": "[]"},
    "engine": {"runtime": '"runc"', "cgroup_manager": '"cgroupfs"'},
}
EXPECTED = {"containers": {"default_ulimits": []}, "engine": {"runtime": "runc", "cgroup_manager": "cgroupfs"}}

TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?$")
ANY_TABLE = re.compile(r"^\s*\[")


def _value_end(lines, start):
    """Index just past the value that starts on ``lines[start]`` (arrays may span lines)."""
    depth = 0
    index = start
    while index < len(lines):
        text = lines[index].split("#", 1)[0] if index > start else lines[index].split("=", 1)[1].split("#", 1)[0]
        depth += text.count("[") - text.count("]")
        index += 1
        if depth <= 0:
            return index
    return index


def _table_bounds(lines, table):
    """(header index, end index) of ``[table]``, or None."""
    for index, line in enumerate(lines):
        match = TABLE.match(line)
        if match and match.group(1) == table:
            end = index + 1
            while end < len(lines) and not ANY_TABLE.match(lines[end]):
                end += 1
            return index, end
    return None


def merge(text, required=None):
    required = REQUIRED if required is None else required
    lines = text.splitlines()
    for table, settings in required.items():
        for key, value in settings.items():
            wanted = "%s = %s" % (key, value)
            bounds = _table_bounds(lines, table)
            if bounds is None:
                if lines and lines[-1].strip():
                    lines.append("")
                lines.extend(["[%s]" % table, wanted])
                continue
            header, end = bounds
            key_re = re.compile(r"^\s*%s\s*=" % re.escape(key))
            for index in range(header + 1, end):
                if key_re.match(lines[index]):
                    lines[index:_value_end(lines, index)] = [wanted]
                    break
            else:
                lines.insert(header + 1, wanted)
    return "\n".join(lines) + "\n"


def satisfied(parsed):
    return all(parsed.get(table, {}).get(key) == value for table, settings in EXPECTED.items() for key, value in settings.items())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else DEFAULT_PATH
    try:
        with open(path) as handle:
            current = handle.read()
    except FileNotFoundError:
        current = ""
    if tomllib is not None:
        try:
            if satisfied(tomllib.loads(current)):
                print("containers.conf: %s already has the lab settings" % path)
                return 0
        except tomllib.TOMLDecodeError as exc:
            sys.stderr.write("containers.conf: %s is not valid TOML (%s); fix it by hand\n" % (path, exc))
            return 1
    updated = merge(current)
    if updated == current:
        return 0
    if tomllib is not None and not satisfied(tomllib.loads(updated)):
        sys.stderr.write("containers.conf: could not merge the lab settings into %s safely; add them by hand:\n%s\n" % (path, merge("")))
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".containers.conf.")
    with os.fdopen(fd, "w") as handle:
        handle.write(updated)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print("containers.conf: wrote the lab settings into %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
