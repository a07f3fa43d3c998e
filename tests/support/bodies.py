"""Request bodies drawn around a valid one: every field of the request schema, given values of every JSON type.

The fast-path test and the body-reading test draw from here; most draws are invalid, and each
test keeps what it needs.
"""

from __future__ import annotations

from hypothesis import strategies as st

from portkey_completions.core import spec

FIELDS = sorted(spec.schema("CreateCompletionRequest")["properties"])
BASE = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 3, "seed": 1}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 300)
    | st.sampled_from([-(2**63), 2**31, 2**63, 10**30, 100257, 100258])
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(["", "gpt-3.5-turbo-instruct", "babbage-002", "a", "\n", "é", "<|endoftext|>", "50256"])
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["50256", "a", ""]), inner),
    max_leaves=6,
)  # fmt: skip
bodies = st.dictionaries(st.sampled_from([*FIELDS, "unknown_field"]), values, max_size=3).map(
    lambda changes: {**BASE, **changes}
)
