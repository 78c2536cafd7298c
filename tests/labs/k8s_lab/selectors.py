"""labelSelector / fieldSelector matching (equality-based and set-existence forms)."""


def _parse(selector):
    rules = []
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            rules.append((key.strip(), "!=", value.strip()))
        elif "==" in term or "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            rules.append((key.strip(), "=", value.strip()))
        elif term.startswith("!"):
            rules.append((term[1:].strip(), "absent", None))
        else:
            rules.append((term, "present", None))
    return rules


def _ok(values, rules):
    for key, op, value in rules:
        got = values.get(key)
        if op == "=" and got != value:
            return False
        if op == "!=" and got == value:
            return False
        if op == "absent" and key in values:
            return False
        if op == "present" and key not in values:
            return False
    return True


def matcher(label_selector=None, field_selector=None):
    labels = _parse(label_selector)
    fields = _parse(field_selector)
    if not labels and not fields:
        return None

    def match(obj):
        meta = obj.get("metadata") or {}
        field_values = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        return _ok(meta.get("labels") or {}, labels) and _ok(field_values, fields)

    return match
