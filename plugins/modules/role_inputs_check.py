#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: role_inputs_check
short_description: Refuse variables that carry a role's prefix but are none of its inputs
version_added: 0.2.0
description:
  - Ansible silently ignores a variable that nothing reads, so a misspelt role input such as
    C(-e emqx_blue_green_reconect_budget=100) runs the role with its default. Run as the first task of a role entry
    point, this action fails (or warns) on every variable of the play whose name starts with O(prefix) but is not an
    input of the role, and names the closest input.
  - The inputs of the role are the options of all entry points in its C(meta/argument_specs.yml), the keys of its
    C(defaults/main.yml) and C(vars/main.yml), and O(known).
  - Names that continue the prefix with a second underscore (C(emqx_blue_green__plan)) are the role's internal facts and
    are not checked.
  - Runs on the controller only and reads the role that contains the task; it fails outside a role.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
options:
  prefix:
    description:
      - Prefix of the role's inputs, with its trailing underscore, for example C(emqx_blue_green_).
    type: str
    required: true
  known:
    description:
      - Further names that are not inputs but are fine to find, such as results the role registers for its callers.
    type: list
    elements: str
    default: []
  on_unknown:
    description:
      - V(fail) fails the task, so nothing runs with a mistyped input; V(warn) only warns.
    type: str
    choices: [fail, warn]
    default: fail
attributes:
  check_mode:
    support: full
    details:
      - Changes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Refuse misspelt inputs before anything changes
  zerodowntime.cluster.role_inputs_check:
    prefix: emqx_blue_green_
    known:
      - emqx_blue_green_nodes
"""

RETURN = r"""
unknown:
  description: Variables with the prefix that are not inputs of the role.
  returned: always
  type: list
  elements: str
  sample: [emqx_blue_green_reconect_budget]
suggestions:
  description: For each unknown variable that resembles an input, that input.
  returned: always
  type: dict
  sample: {emqx_blue_green_reconect_budget: emqx_blue_green_reconnect_budget}
"""
