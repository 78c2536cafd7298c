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
  - Inside a role it reads the role that contains the task. With O(role), it reads that role of this collection
    instead and runs before it, as a playbook's first task. It then also refuses a play that leaves a required input of
    O(entry_point) unset, in one line that names what is missing (the role's own argument validation would print its
    whole argument spec after that line).
  - Runs on the controller only.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
options:
  prefix:
    description:
      - Prefix of the role's inputs, with its trailing underscore, for example C(emqx_blue_green_).
      - Required inside a role; with O(role), the role's name and an underscore by default.
    type: str
  role:
    description:
      - A role of this collection (C(zerodowntime.cluster.xenon_side_by_side) or C(xenon_side_by_side)) to check the
        play's variables against, from outside that role.
    type: str
  entry_point:
    description:
      - With O(role), the entry point whose required inputs must be set.
    type: str
    default: main
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
- name: In a playbook, before the role - name a missing required input on one line
  zerodowntime.cluster.role_inputs_check:
    role: zerodowntime.cluster.xenon_side_by_side

- name: Inside the role - refuse misspelt inputs before anything changes
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
missing:
  description: With O(role), the required inputs of O(entry_point) that the play does not set.
  returned: when O(role) is set
  type: list
  elements: str
  sample: [xenon_side_by_side_factories]
suggestions:
  description: For each unknown variable that resembles an input, that input.
  returned: always
  type: dict
  sample: {emqx_blue_green_reconect_budget: emqx_blue_green_reconnect_budget}
"""
