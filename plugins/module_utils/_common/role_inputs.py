# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of the variables a play sets look like a role's inputs but are none of them.

Ansible ignores a variable nobody reads, so ``-e emqx_blue_green_reconect_budget=100`` runs the
default budget without a word. A name that carries the role's prefix but is not one of its inputs
is almost always such a typo; the closest known name is the likely intent."""

from __future__ import annotations

import difflib


def known_inputs(argument_specs, defaults=None, role_vars=None, extra=()):
    """Every input name of a role: the options of all its entry points (argument_specs as in
    meta/argument_specs.yml), the keys of its defaults and vars, and ``extra`` (what the role
    itself sets for its callers, such as registered results)."""
    names = set(extra)
    for entry in (argument_specs or {}).values():
        names.update(((entry or {}).get("options") or {}).keys())
    names.update((defaults or {}).keys())
    names.update((role_vars or {}).keys())
    return names


def unknown_inputs(variables, prefix, known):
    """[(name, closest known name or None)] for each variable that starts with ``prefix`` and is
    not known. Names with the prefix followed by a second underscore are the role's own internal
    facts (for example left by an earlier entry point in the same play) and are not inputs."""
    known = sorted(known)
    found = []
    for name in sorted(variables):
        if not name.startswith(prefix) or name.startswith(prefix + "_") or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        found.append((name, close[0] if close else None))
    return found


def describe(found, role):
    """One sentence per unknown variable, then where the inputs are listed."""
    parts = []
    for name, close in found:
        parts.append("%s is not an input of %s%s" % (name, role, "; did you mean %s?" % close if close else "."))
    return " ".join(parts) + (" Its inputs: ansible-doc -t role %s." % role)


def missing_required(entry_options, variables):
    """The required options of one entry point (its ``options`` in meta/argument_specs.yml) that
    no variable sets, in the spec's order."""
    return [name for name, option in (entry_options or {}).items() if (option or {}).get("required") and name not in variables]


def describe_missing(missing, role, entry_point, found=()):
    """One line that names what is missing, instead of ansible-core's dump of the whole spec, and
    the variables with the role's prefix that are no input (``found``, as from unknown_inputs):
    a misspelt name is often why an input is missing."""
    head = ("Refused before anything changed: %s (entry point %s) needs %s, which %s not set."
            % (role, entry_point, ", ".join(missing), "is" if len(missing) == 1 else "are"))
    return head + " " + (describe(found, role) if found else "Its inputs: ansible-doc -t role %s." % role)
