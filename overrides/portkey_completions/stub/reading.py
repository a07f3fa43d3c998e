"""What a request asks: the body the spec's validator accepted, read once, with the spec's defaults.

A test holds this reading to the generated models' own (tests/unit/test_reading.py); serving
never imports pydantic's models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from portkey_completions.core import spec

# What the engine takes for a parameter the spec does not declare (a spec update removed it): the
# value that asks for nothing, as if the caller had left it out of the API as it was. A removed
# field is then neither read nor applied, and requests that never sent it answer as before.
_NEUTRAL: Mapping[str, Any] = {
    "model": None, "prompt": None, "suffix": None, "max_tokens": 16, "n": 1, "best_of": None, "stream": False,
    "stream_options": None, "logprobs": None, "echo": False, "stop": None, "temperature": 1, "top_p": 1,
    "presence_penalty": 0, "frequency_penalty": 0, "logit_bias": None, "seed": None, "user": None,
}  # fmt: skip
_DECLARED = spec.load()["components"]["schemas"]["CreateCompletionRequest"]["properties"]
# The spec's defaults, which the generated models carry too (tests/unit/test_reading.py holds the
# two to the same reading); read from the spec, so that serving never imports pydantic's models.
_DEFAULTS: Mapping[str, Any] = {
    **_NEUTRAL,
    **{name: field.get("default") for name, field in _DECLARED.items() if name in _NEUTRAL},
}
# Empty unless the spec dropped a parameter: then a body that still sends it is not applied.
_UNDECLARED = tuple(name for name in _NEUTRAL if name not in _DECLARED)
_BEST_OF = "best_of" in _DECLARED

_NULL_IS_DEFAULT = ("n", "echo", "temperature", "top_p", "presence_penalty", "frequency_penalty")


class Asked(NamedTuple):
    """What a request asks, read from a body the spec's validator has accepted: no second parse.

    A field left out takes the spec's default. An explicit null takes it too for the fields in
    `_NULL_IS_DEFAULT`, as the API does; the others keep it (max_tokens: null means "up to the
    window"; best_of: null means n).
    """

    model: str
    prompt: Any
    suffix: str | None
    max_tokens: int | None
    n: int
    best_of: int | None  # as asked; None: left out or null
    stream: bool
    include_usage: bool
    logprobs: int | None
    echo: bool
    stop: tuple[str, ...]
    temperature: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, int] | None
    seed: int | None
    user: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Asked:
        read = {**_DEFAULTS, **body}  # a field left out is the spec's default
        for name in _UNDECLARED:
            read[name] = _NEUTRAL[name]
        for name in _NULL_IS_DEFAULT:
            if read[name] is None:
                read[name] = _DEFAULTS[name]
        stop = read["stop"]
        # Positional, in field order: keywords cost a NamedTuple three times as much (1.4 us here).
        return cls(
            read["model"],
            read["prompt"],
            read["suffix"],
            read["max_tokens"],
            read["n"],
            body.get("best_of") if _BEST_OF else None,  # left out means n, whatever default the spec writes down
            bool(read["stream"]),
            bool((read["stream_options"] or {}).get("include_usage")),
            read["logprobs"],
            read["echo"],
            (stop,) if isinstance(stop, str) else tuple(stop or ()),
            read["temperature"],
            read["top_p"],
            read["presence_penalty"],
            read["frequency_penalty"],
            read["logit_bias"],
            read["seed"],
            read["user"],
        )
