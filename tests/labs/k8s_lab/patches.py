"""The patch formats the API server accepts for custom resources.

Strategic merge patch and server-side apply are refused for custom resources by a real API
server (415), so they are refused here as well; clients must use merge or JSON patch."""
import copy

import jsonpatch

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


class PatchError(ValueError):
    """The patch cannot be applied (the server answers 422)."""


class UnsupportedPatch(ValueError):
    """The content type is not a patch format served for this resource (the server answers 415)."""


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply(content_type, document, patch):
    media = (content_type or "").split(";")[0].strip().lower()
    if media == MERGE:
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        return merge_patch(document, patch)
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("a JSON patch must be a JSON array of operations")
        try:
            return jsonpatch.apply_patch(document, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise PatchError("the JSON patch does not apply: %s" % exc)
    if media in (STRATEGIC, APPLY):
        raise UnsupportedPatch("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json")
    raise UnsupportedPatch("unsupported patch content type %r" % content_type)
