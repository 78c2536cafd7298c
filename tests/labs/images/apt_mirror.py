#!/usr/bin/env python
"""Print the Debian archive URL this host's apt already uses, for debootstrap.

The image must be built from whatever mirror the machine is allowed to reach (CI machines are
often limited to one internal mirror), so the URL is read from apt's own sources instead of
being written down anywhere. Both formats are read: deb822 ``*.sources`` and one-line
``sources.list`` / ``*.list``. Files apt itself ignores (other extensions) are ignored too.

    apt_mirror.py [SUITE] [--root /]

The entry whose suite is exactly SUITE wins; otherwise the first entry of a plain release
suite (no ``-updates``/``-security`` part), since its URL serves every Debian release.
"""
import argparse
import glob
import os
import re
import sys

USABLE_SCHEMES = ("http://", "https://", "file:/")


def _one_line_entries(text):
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        # Options look like "[arch=amd64 signed-by=...]"; they carry nothing debootstrap needs.
        line = re.sub(r"\[[^\]]*\]", " ", line)
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "deb":
            yield {"uris": [fields[1]], "suites": [fields[2]], "components": fields[3:]}


def _deb822_entries(text):
    # Stanzas are separated by blank lines; a line starting with whitespace continues a field.
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += " " + raw.strip()
                continue
            if ":" not in raw:
                continue
            key, value = raw.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield {
            "uris": fields.get("uris", "").split(),
            "suites": fields.get("suites", "").split(),
            "components": fields.get("components", "").split(),
        }


def entries(root="/"):
    """Every enabled binary ("deb") source of the host, in apt's reading order."""
    apt = os.path.join(root, "etc", "apt")
    found = []
    main_list = os.path.join(apt, "sources.list")
    if os.path.isfile(main_list):
        with open(main_list) as handle:
            found.extend(_one_line_entries(handle.read()))
    for name in sorted(glob.glob(os.path.join(apt, "sources.list.d", "*"))):
        with open(name) as handle:
            text = handle.read()
        if name.endswith(".list"):
            found.extend(_one_line_entries(text))
        elif name.endswith(".sources"):
            found.extend(_deb822_entries(text))
    return found


def choose(found, suite):
    """The mirror URL for ``suite``, or None when the host has no Debian archive source."""
    usable = [
        (uri, entry["suites"])
        for entry in found
        if "main" in entry["components"]
        for uri in entry["uris"]
        if uri.startswith(USABLE_SCHEMES)
    ]
    for uri, suites in usable:
        if suite in suites:
            return uri
    for uri, suites in usable:
        if any(s and "-" not in s and "/" not in s for s in suites):
            return uri
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="bookworm")
    parser.add_argument("--root", default="/", help="read the apt sources below this directory")
    args = parser.parse_args(argv)
    uri = choose(entries(args.root), args.suite)
    if not uri:
        sys.stderr.write("apt_mirror: no Debian 'main' archive found in %s/etc/apt sources\n" % args.root.rstrip("/"))
        return 1
    print(uri.rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
