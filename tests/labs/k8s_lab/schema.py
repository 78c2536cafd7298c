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
