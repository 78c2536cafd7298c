# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""Argument-spec pieces shared by every module (modules deep-copy and merge them)."""

from __future__ import annotations

import copy
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import AnsibleFallbackNotFound

WAIT_ARGS = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    poll_interval=dict(type="float", default=2.0),
)


def env_fallback(*names, **kwargs):  # pylint: disable=unused-argument
    """The first of the environment variables ``names`` that is set and not empty, as Ansible's
    env_fallback but skipping empty ones: an AWX credential renders an optional input that was left
    out as an empty variable, which means "not given", not "given empty" (an empty EMQX_USERNAME
    beside an API key would otherwise be two kinds of credentials at once)."""
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise AnsibleFallbackNotFound


def merge_specs(*specs):
    """Deep-copied union of argument-spec dicts; later specs win."""
    out = {}
    for spec in specs:
        out.update(copy.deepcopy(spec))
    return out


def check_wait_params(params):
    """Return a list of problems with the wait options (empty when fine)."""
    problems = []
    if params.get("wait_timeout") is not None and params["wait_timeout"] <= 0:
        problems.append("wait_timeout must be a positive number of seconds, got %s" % params["wait_timeout"])
    if params.get("poll_interval") is not None and params["poll_interval"] <= 0:
        problems.append("poll_interval must be a positive number of seconds, got %s" % params["poll_interval"])
    return problems


def validate_own_options(spec, args):
    """(validated parameters, error messages) for the options of ``args`` that ``spec`` names.

    For action plugins that check their own options before they run a module: the others (connection
    options, say) may come from the target's environment, which only the module sees."""
    checked = ArgumentSpecValidator(spec).validate({k: v for k, v in args.items() if k in spec})
    return checked.validated_parameters, checked.error_messages
