# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The EMQX Operator's resources as the cluster serves them: which API versions of its CRDs
are installed, and plain-dict reads and writes that report API errors precisely."""

from __future__ import annotations

from ansible_collections.zerodowntime.cluster.plugins.module_utils._common.errors import ValidationError
from ansible_collections.zerodowntime.cluster.plugins.module_utils._emqx_operator.connection import (
    ApiException,
    Urllib3Error,
    api_error,
)

try:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
except ImportError:  # the module reports the missing library before anything here runs
    ResourceNotFoundError = None

GROUP = "apps.emqx.io"
# newest first: "auto" takes the first one the cluster serves
KNOWN_VERSIONS = {"Rebalance": ("v2beta1", "v1beta4"), "EMQX": ("v2beta1",)}
MERGE_PATCH = "application/merge-patch+json"


def served_versions(client, kind):
    """The API versions of ``kind`` in apps.emqx.io this cluster serves, in KNOWN_VERSIONS order."""
    found = []
    for version in KNOWN_VERSIONS[kind]:
        try:
            client.resources.get(api_version="%s/%s" % (GROUP, version), kind=kind)
        except ResourceNotFoundError:
            continue
        except (ApiException, Urllib3Error) as exc:
            raise api_error(exc, "discovering %s/%s %s" % (GROUP, version, kind))
        found.append(version)
    return found


def resolve(client, kind, wanted="auto"):
    """(resource, version) for ``kind``; fails naming what is installed when ``wanted`` is not."""
    served = served_versions(client, kind)
    if not served:
        raise ValidationError("the cluster serves no %s.%s CRD in a version this module knows (%s): is the EMQX "
                              "Operator installed?" % (kind, GROUP, ", ".join(KNOWN_VERSIONS[kind])))
    version = served[0] if wanted == "auto" else wanted
    if version not in served:
        raise ValidationError("%s %s/%s is not served by this cluster; it serves %s" % (kind, GROUP, version, ", ".join(served)))
    return client.resources.get(api_version="%s/%s" % (GROUP, version), kind=kind), version


class Objects:
    """get/create/delete of one namespaced resource, returning plain dicts (None when absent)."""

    def __init__(self, resource, namespace):
        self.resource = resource
        self.namespace = namespace

    def _describe(self, verb, name):
        return "%s %s %s/%s" % (verb, self.resource.kind, self.namespace, name)

    def get(self, name):
        try:
            return self.resource.get(name=name, namespace=self.namespace).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise api_error(exc, self._describe("reading", name))
        except Urllib3Error as exc:
            raise api_error(exc, self._describe("reading", name))

    def create(self, body):
        try:
            return self.resource.create(body=body, namespace=self.namespace).to_dict()
        except (ApiException, Urllib3Error) as exc:
            raise api_error(exc, self._describe("creating", body["metadata"]["name"]))

    def patch(self, name, body):
        """JSON merge patch (custom resources take no strategic merge patch).

        With fieldValidation=Strict the API server refuses a field its CRD does not have instead of
        silently pruning it - say waitHealthCheck on an operator 2.2 CRD - so nothing is changed and
        the next run does not "change" the same field again. Servers before 1.25 ignore the parameter."""
        try:
            return self.resource.patch(name=name, namespace=self.namespace, body=body, content_type=MERGE_PATCH,
                                       query_params=[("fieldValidation", "Strict")]).to_dict()
        except (ApiException, Urllib3Error) as exc:
            raise api_error(exc, self._describe("patching", name))

    def delete(self, name):
        """Delete; True if something was deleted (or marked for deletion)."""
        try:
            self.resource.delete(name=name, namespace=self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise api_error(exc, self._describe("deleting", name))
        except Urllib3Error as exc:
            raise api_error(exc, self._describe("deleting", name))
        return True
