# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The last step of every module: run its work, turn errors into a precise failure with secrets
masked, and return the diff only when Ansible runs with --diff."""

from __future__ import annotations

import traceback

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ZdtError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.redact import redact


def run_and_exit(module, work, secrets=()):
    """Exit ``module`` with the dict ``work()`` returns.

    A ZdtError fails the task with its details; any other exception fails it with the trace for
    -vvv. ``secrets`` (values Ansible does not know are secret) are masked in failures; it may be
    a list that ``work`` appends to."""
    # Read at failure time: ``work`` may add a secret it obtained (a session token) to the list.
    try:
        result = work()
    except ZdtError as exc:
        module.fail_json(**redact(exc.result(), [s for s in secrets if s]))
    except Exception as exc:  # unexpected: say what failed, with the trace for -vvv (it quotes the message too)
        masked = [s for s in secrets if s]
        module.fail_json(msg="unexpected error: %s" % redact(str(exc), masked), exception=redact(traceback.format_exc(), masked))
    for text in result.pop("warnings", None) or []:  # through Ansible's own channel, shown as [WARNING]
        module.warn(text)
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)
