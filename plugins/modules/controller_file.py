#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: controller_file
short_description: Write a journal or report file on the controller, atomically
version_added: 0.2.0
description:
  - Makes each file in O(dest) on the Ansible controller hold O(content) with O(mode), writing it to a temporary file in
    the same directory and renaming it into place. A run killed mid-write leaves the previous file whole, so a
    journal read by the next run is never half written.
  - Runs in the controller's own process, without starting a module on any host; C(delegate_to) has no effect. The
    roles of this collection keep their journals and reports this way; M(ansible.builtin.copy) would start two module
    processes per file for the same write.
  - The directory of each file must exist.
author:
  - zerodowntime.cluster contributors (@zerodowntime)
extends_documentation_fragment:
  - zerodowntime.cluster.attributes
options:
  dest:
    description:
      - The files to write, on the controller. Every one gets the same content, for example a run's own report and the
        copy of it named as the latest.
    type: list
    elements: path
    required: true
  content:
    description:
      - What each file must hold.
    type: str
    required: true
  mode:
    description:
      - Permissions of each file, as an octal string such as V('0600'). A file that differs only in its mode is
        changed too.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details:
      - Writes nothing and reports whether a write would change a file.
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write the journal (readable by the controller's user only)
  zerodowntime.cluster.controller_file:
    dest: /var/lib/zdt/cluster-a/journal.json
    content: "{{ journal | to_nice_json }}\n"
    mode: "0600"

- name: Keep this run's report and make it the latest
  zerodowntime.cluster.controller_file:
    dest:
      - /var/lib/zdt/cluster-a/report-20261202T101500Z.json
      - /var/lib/zdt/cluster-a/report.json
    content: "{{ report | to_nice_json }}\n"
    mode: "0644"
"""

RETURN = r"""
dest:
  description: The absolute paths of the files, in the order given.
  returned: success
  type: list
  elements: str
  sample: [/var/lib/zdt/cluster-a/journal.json]
written:
  description: The files whose content or mode this run changed; empty in check mode.
  returned: success
  type: list
  elements: str
  sample: [/var/lib/zdt/cluster-a/journal.json]
"""
