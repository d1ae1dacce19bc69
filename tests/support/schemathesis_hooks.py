"""schemathesis hooks for its run against live gunicorn (tests/schemathesis.toml loads them)."""

import schemathesis

# `st explain ST201`: "Schema-violating request accepted" (the negative_data_rejection check).
ACCEPTED_NEGATIVE_DATA = "ST201"


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but one false alarm: a multipart field whose JSON type was "changed".

    A multipart body has no JSON types: every part is text or bytes, and a null is no part
    at all. The integer 15 sent as the `file` part is a two-byte file, and a null `password`
    is an upload without one; storing either is right. Any other kind of invalid data
    (out of range, too long, a missing `file`) keeps its failure.
    """
    if getattr(failure, "code", None) != ACCEPTED_NEGATIVE_DATA or case.meta is None:
        return True
    if not (case.media_type or "").startswith("multipart/"):
        return True
    mutations = getattr(case.meta.phase.data, "mutations", None) or []
    only_types_changed = mutations and all(
        mutation.operator == "change_type" and mutation.parameter_location == "body"
        for mutation in mutations
    )
    return not only_types_changed


# tus chunks (PATCH, and POST with creation-with-upload) are raw bytes under their own
# media type; send them as schemathesis sends application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
