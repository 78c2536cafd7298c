# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of controller_file (documented with the module of the same name).

The roles keep their journals and reports on the controller. ansible.builtin.copy would start two
module processes per file (stat, then copy) for what is a local write; this writes in the
controller's own process, atomically, so that a run killed mid-write leaves the previous journal
whole and a re-run can trust it."""

from __future__ import annotations

import os
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

ARGS = dict(
    dest=dict(type="list", elements="path", required=True),
    content=dict(type="str", required=True, no_log=False),
    mode=dict(type="str", required=True),
)


def parse_mode(mode):
    """An octal mode given as a string ("0600"); a symbolic or out-of-range mode is refused."""
    try:
        value = int(mode, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise ValueError("mode must be an octal number such as 0600, got %r" % mode)
    return value


def current(path):
    """(content bytes, permission bits) of the file at path, or (None, None) if there is none."""
    try:
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None


def write_atomically(path, data, mode):
    """Replace path with data in one rename: a reader (or a re-run after a kill) sees the old file
    or the new one, never half of one."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def ensure(paths, content, mode, check):
    """Make every path hold content with mode; returns (changed paths, diffs). In check mode
    nothing is written and the changes are only predicted: a directory that does not exist yet
    (a task before this one would create it in a real run) means a new file."""
    data = to_bytes(content, errors="surrogate_or_strict")
    for path in paths:  # all checked before the first write
        if not check and not os.path.isdir(os.path.dirname(path) or "."):
            raise FileNotFoundError("the directory of %s does not exist on the controller" % path)
        if os.path.isdir(path):
            raise IsADirectoryError("%s is a directory; dest names the file to write" % path)
    changed, diffs = [], []
    for path in paths:
        before, before_mode = current(path)
        if before == data and before_mode == mode:
            continue
        changed.append(path)
        diffs.append({"before_header": path, "after_header": path,
                      "before": to_text(before or b"", errors="surrogate_or_replace"),
                      "after": to_text(data, errors="surrogate_or_replace")})
        if not check:
            write_atomically(path, data, mode)
    return changed, diffs


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGS)  # fails the task on bad options
        try:
            mode = parse_mode(params["mode"])
            paths = [os.path.abspath(path) for path in params["dest"]]  # type path has expanded ~ and variables
            changed, diffs = ensure(paths, params["content"], mode, self._task.check_mode)
        except (OSError, ValueError) as error:
            return dict(result, failed=True, msg="controller_file: %s" % error)
        result.update(changed=bool(changed), dest=paths, written=[] if self._task.check_mode else changed)
        if self._task.diff and diffs:
            result["diff"] = diffs
        return result
