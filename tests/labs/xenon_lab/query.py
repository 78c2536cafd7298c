"""Xenon query semantics the lab needs: QuerySpecification matching, as in the reference.

Only what the migration task, the modules and the tests send is modelled: terms with TERM,
PREFIX and WILDCARD match types, LONG/DOUBLE ranges, nested booleanClauses with the (real,
misspelled) ``occurance`` field, and the INCLUDE_DELETED and INCLUDE_ALL_VERSIONS options.
"""
import fnmatch

LONG_MAX = 9223372036854775807


def _value(doc, name):
    value = doc
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def term_matches(term, doc):
    value = _value(doc, term.get("propertyName", ""))
    if value is None:
        return False
    rng = term.get("range")
    if rng:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        low, high = rng.get("min"), rng.get("max")
        if low is not None:
            low = float(low)
            if number < low or (number == low and not rng.get("isMinInclusive", True)):
                return False
        if high is not None:
            high = float(high)
            if number > high or (number == high and not rng.get("isMaxInclusive", True)):
                return False
        return True
    match_value = term.get("matchValue")
    kind = term.get("matchType", "TERM")
    text = _text(value)
    if kind == "PREFIX":
        return text.startswith(str(match_value))
    if kind == "WILDCARD":
        return fnmatch.fnmatchcase(text, str(match_value))
    if kind == "PHRASE":
        return str(match_value) in text
    return text == _text(match_value)


def query_matches(query, doc):
    """True when doc satisfies the query tree."""
    clauses = query.get("booleanClauses") or []
    if not clauses:
        term = query.get("term")
        return True if term is None else term_matches(term, doc)
    should = []
    for clause in clauses:
        hit = query_matches(clause, doc)
        occurance = clause.get("occurance", "MUST_OCCUR")
        if occurance == "MUST_OCCUR" and not hit:
            return False
        if occurance == "MUST_NOT_OCCUR" and hit:
            return False
        if occurance == "SHOULD_OCCUR":
            should.append(hit)
    if should and len(should) == len(clauses):
        return any(should)
    return True


def _update_time_floor(query):
    """Lower bound of a MUST range on documentUpdateTimeMicros, if any (Lucene answers such a range
    from its index instead of visiting every document; the lab pre-filters on it the same way)."""
    for clause in query.get("booleanClauses") or []:
        term = clause.get("term") or {}
        if clause.get("occurance", "MUST_OCCUR") == "MUST_OCCUR" and term.get("propertyName") == "documentUpdateTimeMicros" \
                and (term.get("range") or {}).get("min") is not None:
            return float(term["range"]["min"])
    return None


def select(docs, query_spec):
    """Documents (dicts) matching query_spec, ordered by selfLink so pages are stable."""
    options = set(query_spec.get("options") or [])
    query = query_spec.get("query") or {}
    floor = _update_time_floor(query)
    if floor is not None:
        docs = [d for d in docs if d.get("documentUpdateTimeMicros", 0) >= floor]
    out = []
    # with INCLUDE_ALL_VERSIONS every version is a result, DELETE versions included
    # (LuceneDocumentIndexService.java); results come in version order per selfLink
    all_versions = "INCLUDE_ALL_VERSIONS" in options
    for doc in docs:
        if doc.get("documentUpdateAction") == "DELETE" and "INCLUDE_DELETED" not in options and not all_versions:
            continue
        if query_matches(query, doc):
            out.append(doc)
    out.sort(key=lambda d: (d["documentSelfLink"], d.get("documentVersion", 0)))
    return out


def result_link(doc, options):
    """The key of a result: the selfLink, decorated with the version under INCLUDE_ALL_VERSIONS."""
    if "INCLUDE_ALL_VERSIONS" in (options or []):
        return "%s?documentVersion=%d" % (doc["documentSelfLink"], doc.get("documentVersion", 0))
    return doc["documentSelfLink"]
