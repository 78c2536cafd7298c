"""Objects, CustomResourceDefinitions and the write semantics of the Kubernetes API server.

What a client can observe and what this keeps: ``metadata.resourceVersion`` is one monotonic
counter across all objects; ``metadata.generation`` starts at 1 and grows only when something
other than metadata and status changes; with a status subresource the main resource ignores
status and ``/status`` ignores everything else; finalizers turn a delete into a
``deletionTimestamp`` and the object goes when the last finalizer is removed; schema defaults
are applied on every write. Every write is recorded as a watch event.
"""
import collections
import copy
import datetime
import json
import os
import uuid

from k8s_lab import builtin_kinds, errors, schema

CRD_GROUP = "apiextensions.k8s.io"
CRD_VERSION = "v1"
EVENT_HISTORY = 5000


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Definition:
    """One served resource: a CRD (or the CRD resource itself)."""

    def __init__(self, group, plural, singular, kind, namespaced, versions, short_names=(), categories=()):
        self.group = group
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.versions = versions  # name -> {"status": bool, "schema": {...}, "columns": [...], "storage": bool}
        self.short_names = list(short_names)
        self.categories = list(categories)

    @classmethod
    def from_crd(cls, crd):
        spec = crd["spec"]
        names = spec["names"]
        versions = {}
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            versions[version["name"]] = {
                "status": "status" in (version.get("subresources") or {}),
                "schema": (version.get("schema") or {}).get("openAPIV3Schema") or {},
                "columns": version.get("additionalPrinterColumns") or [],
                "storage": bool(version.get("storage")),
            }
        return cls(spec["group"], names["plural"], names.get("singular") or names["kind"].lower(), names["kind"],
                   spec.get("scope", "Namespaced") == "Namespaced", versions, names.get("shortNames") or (),
                   names.get("categories") or ())

    @property
    def resource(self):
        return "%s.%s" % (self.plural, self.group)

    def has_status(self, version):
        return self.versions[version]["status"]

    def read_only(self, version):
        return bool(self.versions[version].get("read_only"))


CRD_DEFINITION = Definition(CRD_GROUP, "customresourcedefinitions", "customresourcedefinition",
                            "CustomResourceDefinition", False,
                            {CRD_VERSION: {"status": True, "schema": {}, "columns": [], "storage": True}}, ("crd", "crds"))


DEPLOYMENT_DEFINITION = builtin_kinds.deployment_definition(Definition)


def _body_sans(obj, *keys):
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    def __init__(self, path=None, admission=None):
        self.path = path
        self.admission = admission or []  # callables(operation, definition, old, new) that may raise ApiStatus
        self.revision = 0
        self.objects = {}  # (group, plural, namespace, name) -> object
        self.events = collections.deque(maxlen=EVENT_HISTORY)  # (revision, group, plural, namespace, type, object)
        self.definitions = {}
        self.listeners = []
        self.warnings = []  # what the last write would send back as Warning headers
        if path and os.path.exists(path):
            self._load()
        # events before this revision were not kept (previous process): watches cannot resume there
        self.history_start = self.revision
        self._refresh_definitions()

    # persistence ---------------------------------------------------------------------------
    def _load(self):
        with open(self.path) as handle:
            data = json.load(handle)
        self.revision = data["revision"]
        for obj in data["objects"]:
            self.objects[self._key_of(obj)] = obj

    def _save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"revision": self.revision, "objects": list(self.objects.values())}, handle)
        os.replace(tmp, self.path)

    @staticmethod
    def _key_of(obj):
        group, _sep, _version = obj["apiVersion"].rpartition("/")
        meta = obj["metadata"]
        return (group, meta["_plural"], meta.get("namespace"), meta["name"])

    # definitions ---------------------------------------------------------------------------
    def _refresh_definitions(self):
        found = {(CRD_GROUP, CRD_DEFINITION.plural): CRD_DEFINITION,
                 (DEPLOYMENT_DEFINITION.group, DEPLOYMENT_DEFINITION.plural): DEPLOYMENT_DEFINITION}
        for (group, plural, _ns, _name), obj in self.objects.items():
            if (group, plural) == (CRD_GROUP, CRD_DEFINITION.plural) and "deletionTimestamp" not in obj["metadata"]:
                definition = Definition.from_crd(obj)
                found[(definition.group, definition.plural)] = definition
        self.definitions = found

    def definition(self, group, version, plural):
        """The definition serving ``group/version`` ``plural`` (plural, singular or short name)."""
        for definition in self.definitions.values():
            if definition.group == group and version in definition.versions:
                if plural in (definition.plural, definition.singular) or plural in definition.short_names:
                    return definition
        return None

    # reads ---------------------------------------------------------------------------------
    def _present(self, obj, definition, version):
        out = copy.deepcopy(obj)
        out["apiVersion"] = "%s/%s" % (definition.group, version) if definition.group else version
        out["metadata"].pop("_plural", None)
        return out

    def get(self, definition, version, namespace, name):
        obj = self.objects.get((definition.group, definition.plural, namespace, name))
        if obj is None:
            raise errors.not_found(definition.resource, name)
        return self._present(obj, definition, version)

    def list(self, definition, version, namespace=None, match=None):
        items = []
        for (group, plural, ns, _name), obj in sorted(self.objects.items(), key=lambda kv: (kv[0][2] or "", kv[0][3])):
            if (group, plural) != (definition.group, definition.plural):
                continue
            if namespace is not None and ns != namespace:
                continue
            presented = self._present(obj, definition, version)
            if match is None or match(presented):
                items.append(presented)
        return {"apiVersion": "%s/%s" % (definition.group, version), "kind": definition.kind + "List",
                "metadata": {"resourceVersion": str(self.revision)}, "items": items}

    # writes --------------------------------------------------------------------------------
    def _record(self, definition, event_type, obj):
        self.events.append((self.revision, definition.group, definition.plural,
                            obj["metadata"].get("namespace"), event_type, copy.deepcopy(obj)))
        if (definition.group, definition.plural) == (CRD_GROUP, CRD_DEFINITION.plural):
            self._refresh_definitions()
        self._save()
        for listener in list(self.listeners):
            listener()

    def _bump(self, obj):
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)

    def _check_admission(self, operation, definition, old, new):
        for hook in self.admission:
            hook(operation, definition, old, new)

    def _validate(self, definition, version, obj, validation=None):
        spec_schema = definition.versions[version]["schema"]
        unknown = schema.prune_unknown(spec_schema, obj)
        if unknown and validation == "Strict":
            raise errors.bad_request('%s in version "%s" cannot be handled as a %s: strict decoding error: %s' % (
                definition.kind, version, definition.kind, ", ".join('unknown field "%s"' % path for path in unknown)))
        if unknown and validation != "Ignore":
            self.warnings.extend('unknown field "%s"' % path for path in unknown)
        schema.apply_defaults(spec_schema, obj)
        missing = schema.missing_required(spec_schema, _body_sans(obj, "metadata", "apiVersion", "kind"))
        if missing:
            raise errors.invalid(definition.resource, obj["metadata"].get("name"),
                                 ", ".join("%s: Required value" % path for path in missing))

    def create(self, definition, version, namespace, body, validation=None):
        """``validation``: the fieldValidation directive (Strict, Warn - the default - or Ignore)."""
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise errors.invalid(definition.resource, "", "metadata.name: Required value: name or generateName is required")
        if definition.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        key = (definition.group, definition.plural, meta.get("namespace"), name)
        if key in self.objects:
            raise errors.already_exists(definition.resource, name)
        if (definition.group, definition.plural) == (CRD_GROUP, CRD_DEFINITION.plural):
            obj["status"] = self._crd_status(obj)
        elif definition.has_status(version):
            obj.pop("status", None)
        obj["kind"] = definition.kind
        obj["apiVersion"] = "%s/%s" % (definition.group, version)
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1, "_plural": definition.plural})
        self._validate(definition, version, obj, validation)
        self._check_admission("CREATE", definition, None, self._present(obj, definition, version))
        self._bump(obj)
        self.objects[key] = obj
        self._record(definition, "ADDED", obj)
        return self._present(obj, definition, version)

    @staticmethod
    def _crd_status(crd):
        stamp = now()
        return {
            "acceptedNames": crd["spec"]["names"],
            "storedVersions": [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": stamp},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": stamp},
            ],
        }

    def seed(self, definition, version, body):
        """Put a built-in object with its status in place unless it exists (lab start-up)."""
        meta = body["metadata"]
        try:
            return self.get(definition, version, meta.get("namespace"), meta["name"])
        except errors.ApiStatus:
            pass
        self.create(definition, version, meta.get("namespace"), body, validation="Ignore")
        return self.replace(definition, version, meta.get("namespace"), meta["name"], body, subresource="status")

    def replace(self, definition, version, namespace, name, body, subresource=None, validation=None):
        """PUT semantics (also the last step of every PATCH)."""
        key = (definition.group, definition.plural, namespace if definition.namespaced else None, name)
        old = self.objects.get(key)
        if old is None:
            raise errors.not_found(definition.resource, name)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        sent_version = (body.get("metadata") or {}).get("resourceVersion")
        if sent_version not in (None, "") and str(sent_version) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(definition.resource, name)
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        has_status = definition.has_status(version)
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = copy.deepcopy(body["status"])
            else:
                new.pop("status", None)
        else:
            new = copy.deepcopy(body)
            new["kind"] = definition.kind
            new["apiVersion"] = old["apiVersion"]
            if has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            meta = new.setdefault("metadata", {})
            for field in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "_plural"):
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
                else:
                    meta.pop(field, None)
            if old["metadata"].get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise errors.invalid(definition.resource, name, "metadata.finalizers: Forbidden: no new finalizers "
                                         "can be added if the object is being deleted, found new finalizers %s"
                                         % sorted(added))
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        self._validate(definition, version, new, validation)
        if new == old:
            return self._present(old, definition, version)
        self._check_admission("UPDATE", definition, self._present(old, definition, version),
                              self._present(new, definition, version))
        ignored = ("metadata", "status") if has_status else ("metadata",)
        if _body_sans(new, *ignored) != _body_sans(old, *ignored):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self._bump(new)
        self.objects[key] = new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            del self.objects[key]
            self._record(definition, "DELETED", new)
        else:
            self._record(definition, "MODIFIED", new)
        return self._present(new, definition, version)

    def patch(self, definition, version, namespace, name, content_type, patch_body, subresource=None, validation=None):
        from k8s_lab import patches

        current = self.get(definition, version, namespace, name)
        try:
            patched = patches.apply(content_type, current, patch_body)
        except patches.UnsupportedPatch as exc:
            raise errors.ApiStatus(415, "UnsupportedMediaType", str(exc))
        except patches.PatchError as exc:
            raise errors.invalid(definition.resource, name, str(exc))
        return self.replace(definition, version, namespace, name, patched, subresource, validation)

    def delete(self, definition, version, namespace, name):
        key = (definition.group, definition.plural, namespace if definition.namespaced else None, name)
        old = self.objects.get(key)
        if old is None:
            raise errors.not_found(definition.resource, name)
        self._check_admission("DELETE", definition, self._present(old, definition, version), None)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return self._present(old, definition, version)
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            self._bump(new)
            self.objects[key] = new
            self._record(definition, "MODIFIED", new)
            return self._present(new, definition, version)
        del self.objects[key]
        gone = copy.deepcopy(old)
        self._bump(gone)
        self._record(definition, "DELETED", gone)
        return self._present(gone, definition, version)

    # watch ---------------------------------------------------------------------------------
    def events_since(self, definition, version, namespace, revision):
        """Events after ``revision`` for one resource; None if that revision is too old to resume from."""
        if revision < self.history_start:
            return None
        if len(self.events) == self.events.maxlen and revision < self.events[0][0] - 1:
            return None
        out = []
        for rev, group, plural, ns, event_type, obj in self.events:
            if rev <= revision or (group, plural) != (definition.group, definition.plural):
                continue
            if namespace is not None and ns != namespace:
                continue
            out.append((rev, event_type, self._present(obj, definition, version)))
        return out
