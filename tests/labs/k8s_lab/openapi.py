"""OpenAPI v3 as a real API server publishes it (``/openapi/v3`` index, one document per
group/version), built from the served definitions, so ``kubectl apply`` validates without
``--validate=false``.

What kubectl reads from it: a PATCH operation tagged ``x-kubernetes-group-version-kind`` with a
``fieldValidation`` query parameter means the server validates fields, so kubectl sends
``fieldValidation=Strict`` and lets the server report unknown fields; the PATCH request body's
content types tell ``kubectl apply`` whether strategic merge patch is possible (it is not for
custom resources, so it sends a JSON merge patch). Only the patch types the lab accepts are
listed."""
import copy
import hashlib
import json

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_BUILTIN_PREFIX = {"apps": "io.k8s.api.apps", "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"}
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json")
_COMMON = {
    META + "ObjectMeta": {"type": "object", "description": "Standard object's metadata.", "properties": {
        "name": {"type": "string"}, "namespace": {"type": "string"}, "generateName": {"type": "string"},
        "uid": {"type": "string"}, "resourceVersion": {"type": "string"}, "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
        "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set"},
        "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}},
    META + "ListMeta": {"type": "object", "properties": {
        "resourceVersion": {"type": "string"}, "continue": {"type": "string"},
        "remainingItemCount": {"type": "integer", "format": "int64"}}},
    META + "Status": {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "status": {"type": "string"},
        "message": {"type": "string"}, "reason": {"type": "string"}, "code": {"type": "integer", "format": "int32"},
        "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
    META + "Patch": {"type": "object", "description": "Patch is provided to give a concrete name and type to the "
                                                      "Kubernetes PATCH request body."},
}


def schema_name(definition, version, kind=None):
    if definition.group in _BUILTIN_PREFIX:
        prefix = _BUILTIN_PREFIX[definition.group]
    else:
        prefix = ".".join(reversed(definition.group.split(".")))
    return "%s.%s.%s" % (prefix, version, kind or definition.kind)


def _ref(name):
    return {"$ref": "#/components/schemas/" + name}


def _gvk(definition, version, kind=None):
    return {"group": definition.group, "version": version, "kind": kind or definition.kind}


def _object_schema(definition, version):
    schema = copy.deepcopy(definition.versions[version]["schema"]) or {"type": "object",
                                                                       "x-kubernetes-preserve-unknown-fields": True}
    schema.setdefault("type", "object")
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"allOf": [_ref(META + "ObjectMeta")], "default": {}}
    schema["x-kubernetes-group-version-kind"] = [_gvk(definition, version)]
    return schema


def _list_schema(definition, version):
    return {"type": "object", "required": ["items"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "items": {"type": "array", "items": _ref(schema_name(definition, version))},
        "metadata": {"allOf": [_ref(META + "ListMeta")], "default": {}}},
        "x-kubernetes-group-version-kind": [_gvk(definition, version, definition.kind + "List")]}


def _query(name, kind="string", description=""):
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": True}}


_WRITE_PARAMS = [
    _query("dryRun"), _query("fieldManager"),
    _query("fieldValidation", description="Strict, Warn (the default) or Ignore: what to do with unknown fields"),
]
_LIST_PARAMS = [_query("labelSelector"), _query("fieldSelector"), _query("resourceVersion"),
                _query("timeoutSeconds", "integer"), _query("watch", "boolean")]


def _operation(definition, version, action, op_id, response, body=None, params=(), content_types=("application/json",)):
    op = {"operationId": op_id, "tags": [schema_name(definition, version).rsplit(".", 1)[0]],
          "parameters": list(params),
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(response)}}},
                        "401": {"description": "Unauthorized"}},
          "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(definition, version)}
    if body:
        op["requestBody"] = {"content": {t: {"schema": _ref(body)} for t in content_types}, "required": True}
    return op


def _paths(definition, version):
    kind = definition.kind
    obj, listing = schema_name(definition, version), schema_name(definition, version, kind + "List")
    base = "/apis/%s/%s" % (definition.group, version)
    scoped = base + ("/namespaces/{namespace}" if definition.namespaced else "") + "/" + definition.plural
    path_params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}}]
    if definition.namespaced:
        path_params.append({"name": "namespace", "in": "path", "required": True,
                            "schema": {"type": "string", "uniqueItems": True}})
    read_only = definition.read_only(version)
    collection = {"get": _operation(definition, version, "list", "list" + kind, listing, params=_LIST_PARAMS),
                  "parameters": path_params[1:]}
    item = {"get": _operation(definition, version, "get", "read" + kind, obj), "parameters": path_params}
    if not read_only:
        collection["post"] = _operation(definition, version, "post", "create" + kind, obj, obj, _WRITE_PARAMS)
        item["put"] = _operation(definition, version, "put", "replace" + kind, obj, obj, _WRITE_PARAMS)
        item["patch"] = _operation(definition, version, "patch", "patch" + kind, obj, META + "Patch",
                                   _WRITE_PARAMS + [_query("force", "boolean")], PATCH_TYPES)
        item["delete"] = _operation(definition, version, "delete", "delete" + kind, META + "Status")
    paths = {scoped: collection, scoped + "/{name}": item}
    if definition.namespaced:
        paths[base + "/" + definition.plural] = {"get": _operation(definition, version, "list",
                                                                   "list%sForAllNamespaces" % kind, listing,
                                                                   params=_LIST_PARAMS)}
    if definition.has_status(version):
        status = {"get": _operation(definition, version, "get", "read%sStatus" % kind, obj), "parameters": path_params}
        if not read_only:
            status["put"] = _operation(definition, version, "put", "replace%sStatus" % kind, obj, obj, _WRITE_PARAMS)
            status["patch"] = _operation(definition, version, "patch", "patch%sStatus" % kind, obj, META + "Patch",
                                         _WRITE_PARAMS + [_query("force", "boolean")], PATCH_TYPES)
        paths[scoped + "/{name}/status"] = status
    return paths


def group_versions(definitions):
    out = {}
    for definition in definitions:
        for version in definition.versions:
            out.setdefault("%s/%s" % (definition.group, version), []).append(definition)
    return out


def document(definitions, group, version):
    """The OpenAPI v3 document of one group/version, or None if nothing is served there."""
    served = group_versions(definitions).get("%s/%s" % (group, version))
    if not served:
        return None
    paths, schemas = {}, copy.deepcopy(_COMMON)
    for definition in sorted(served, key=lambda d: d.plural):
        paths.update(_paths(definition, version))
        schemas[schema_name(definition, version)] = _object_schema(definition, version)
        schemas[schema_name(definition, version, definition.kind + "List")] = _list_schema(definition, version)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": schemas}}


def digest(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def index(definitions):
    paths = {}
    for group_version in sorted(group_versions(definitions)):
        group, version = group_version.split("/")
        doc = document(definitions, group, version)
        paths["apis/" + group_version] = {"serverRelativeURL": "/openapi/v3/apis/%s?hash=%s" % (group_version, digest(doc))}
    return {"paths": paths}
