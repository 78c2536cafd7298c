# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the desired state is reached before returning.
      - Waiting never happens in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait in total, measured on one monotonic clock.
      - On timeout the task fails and reports the last observed state. C(0) is not "forever".
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two observations while waiting.
    type: float
    default: 2.0
"""
