# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The runtime API socket of the HAProxy modules.
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of HAProxy's C(stats socket) (UNIX), or V(host:port) of a TCP one.
      - Changes need the socket's C(level admin).
    type: str
    required: true
  timeout:
    description: Seconds allowed for each exchange with the runtime API.
    type: float
    default: 5.0
"""
