"""Structural-schema defaulting, as the API server applies ``default`` from a CRD's openAPIV3Schema."""
import copy


def apply_defaults(schema, value):
    """Fill absent properties that declare a default, recursing into objects and arrays in place."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        for prop, sub in (schema.get("properties") or {}).items():
            if prop not in value and isinstance(sub, dict) and "default" in sub:
                value[prop] = copy.deepcopy(sub["default"])
            if prop in value:
                value[prop] = apply_defaults(sub, value[prop])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            value[index] = apply_defaults(schema["items"], item)
    return value


def missing_required(schema, value, path=""):
    """Paths of required properties absent from ``value`` (what the server reports as Required value)."""
    missing = []
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return missing
    for prop in schema.get("required") or []:
        if prop not in value:
            missing.append("%s.%s" % (path, prop) if path else prop)
    for prop, sub in (schema.get("properties") or {}).items():
        if prop in value:
            missing.extend(missing_required(sub, value[prop], "%s.%s" % (path, prop) if path else prop))
    return missing


def prune_unknown(schema, value, path=""):
    """Remove fields a structural schema does not declare and return their paths.

    As the API server prunes custom resources: an object schema with ``properties`` keeps only
    those, unless it carries ``x-kubernetes-preserve-unknown-fields`` or ``additionalProperties``;
    ``metadata`` is never pruned here (ObjectMeta has its own decoding)."""
    found = []
    if not isinstance(schema, dict):
        return found
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        keep_all = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema or not props
        for key in list(value):
            sub_path = "%s.%s" % (path, key) if path else key
            if key in props:
                if sub_path != "metadata":
                    found.extend(prune_unknown(props[key], value[key], sub_path))
            elif isinstance(schema.get("additionalProperties"), dict):
                found.extend(prune_unknown(schema["additionalProperties"], value[key], sub_path))
            elif not keep_all:
                del value[key]
                found.append(sub_path)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found.extend(prune_unknown(schema["items"], item, "%s[%d]" % (path, index)))
    return found
