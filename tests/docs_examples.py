"""The examples of README.md, docs/ and the role READMEs, as a user copies them: each runnable one
(an ``ansible-playbook`` command, or a play) is run against a lab with only its endpoints,
credentials and file paths replaced - by the test of the system it belongs to - in check mode
where it would change the cluster. A placeholder that no replacement covers fails the test, so a
new example or an edited one cannot drift unnoticed."""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) \
    + sorted(glob.glob(os.path.join(ROOT, "roles", "*", "README.md")))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# what only a placeholder looks like: a replacement left one of these in, or an example gained one
PLACEHOLDER = re.compile(r"example\.com|\.\.\.|/path/|/opt/|/srv/|/etc/|/run/haproxy|\bzk\d:|\b(?:blue|green)-\d:8000|\b10\.0\.\d|"
                         r"emqx-ee-dashboard|kafka\d:")
SYSTEMS = ("emqx_operator", "emqx", "kilda", "xenon")


def blocks():
    """(doc path relative to the repository, language, body) of every fenced block."""
    for path in DOCS:
        with open(path) as handle:
            text = handle.read()
        for match in FENCE.finditer(text):
            yield os.path.relpath(path, ROOT), match.group(1), match.group(2)


def commands(body):
    """The ansible-playbook command lines of a shell block (continuations joined, comments dropped)."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("ansible-playbook "):
            out.append(line)
    return out


def plays(lang, body):
    """The plays of a YAML block that is a whole playbook, else []."""
    if lang not in ("yaml", "yml"):
        return []
    data = yaml.safe_load(body)
    if isinstance(data, list) and data and all(isinstance(p, dict) and "hosts" in p for p in data):
        return data
    return []


def tasks(lang, body):
    """A YAML block that is a list of tasks of this collection's modules, as a play on localhost
    (so it runs as the user would paste it into one), else ""."""
    if lang not in ("yaml", "yml"):
        return ""
    data = yaml.safe_load(body)
    if isinstance(data, list) and data and all(isinstance(t, dict) and any(k.startswith("zerodowntime.cluster.") for k in t)
                                               for t in data):
        return yaml.safe_dump([{"name": "Example tasks", "hosts": "localhost", "gather_facts": False, "tasks": data}], sort_keys=False)
    return ""


def system_of(text):
    """Which system's lab an example runs against, by the collection content it names."""
    for system in SYSTEMS:
        if re.search(r"\b%s" % system, text):
            return system
    raise AssertionError("an example names no system: %s" % text[:300])


def runnable(system):
    """[(doc, kind, text)] of the examples of ``system``: kind is "command" or "play" (a list of tasks
    runs as a play). What is neither - an inventory, a vars file, a module_defaults snippet - is
    used by the commands that name it, or checked by test_docs_examples only."""
    out = []
    for path, lang, body in blocks():
        for line in commands(body):
            if system_of(line) == system:
                out.append((path, "command", line))
        if plays(lang, body) and system_of(body) == system:
            out.append((path, "play", body))
        if tasks(lang, body) and system_of(body) == system:
            out.append((path, "play", tasks(lang, body)))
    return out


def fragment(doc, first_line):
    """The body of the block of ``doc`` whose first line is ``first_line`` (an inventory or vars
    file an example's command uses)."""
    for path, _lang, body in blocks():
        if path == doc and body.splitlines()[0] == first_line:
            return body
    raise AssertionError("%s has no block starting with %r" % (doc, first_line))


def replace(text, replacements):
    """``text`` with each key of ``replacements`` replaced (longest first); fails when a
    placeholder is left."""
    if replacements:
        # one pass, longest key first: a value put in is never replaced again
        pattern = re.compile("|".join(re.escape(key) for key in sorted(replacements, key=len, reverse=True)))
        text = pattern.sub(lambda match: str(replacements[match.group(0)]), text)
    left = sorted(set(m.group(0) for m in PLACEHOLDER.finditer(text)))
    assert not left, "no lab value replaces %s in:\n%s" % (left, text)
    return text


def env(**extra):
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
                **extra)


def run_command(line, cwd, check=True, extra_env=None, timeout=240):
    """Run an ansible-playbook command line as written (after replacement), from ``cwd``."""
    argv = shlex.split(line)
    argv[0] = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if check:
        argv.append("--check")
    return subprocess.run(argv, cwd=cwd, env=env(**(extra_env or {})), capture_output=True, text=True, timeout=timeout, check=False)


def run_play(body, cwd, extra_vars=None, inventory=None, check=True, extra_env=None, timeout=240):
    """Write the play to ``cwd``/example.yml and run it (with ``extra_vars`` for what the example
    leaves to the user's vault or inventory)."""
    path = os.path.join(cwd, "example.yml")
    with open(path, "w") as handle:
        handle.write(body)
    line = "ansible-playbook " + ("-i %s " % shlex.quote(inventory) if inventory else "") + path
    if extra_vars:
        line += " -e %s" % shlex.quote(json.dumps(extra_vars))
    return run_command(line, cwd, check=check, extra_env=extra_env, timeout=timeout)


def output(run):
    return run.stdout + run.stderr
