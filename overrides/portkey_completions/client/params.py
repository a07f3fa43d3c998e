"""A request body holding exactly the parameters the caller passed, checked against the spec first.

The check is the effective spec's own CreateCompletionRequest schema (see `spec.py`), so a
bound changed in the spec is a bound changed here after `make gen`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from portkey_completions.core import spec

from .errors import ParameterError

REQUEST = "CreateCompletionRequest"


def names() -> frozenset[str]:
    return frozenset(spec.schema(REQUEST)["properties"])


def body(params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for these parameters, exactly as given (None is sent as null).

    Raises:
        ParameterError: an unknown name, a missing required one, or a value outside the spec.
    """
    unknown = sorted(set(params) - names())
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r}; the spec's are: {', '.join(sorted(names()))}", param=unknown[0]
        )
    missing = [name for name in spec.schema(REQUEST).get("required", ()) if name not in params]
    if missing:
        raise ParameterError(f"missing required parameter {missing[0]!r}", param=missing[0])
    data = dict(params)
    error = jsonschema.exceptions.best_match(spec.validator(REQUEST).iter_errors(data))
    if error is not None:
        param = ".".join(str(p) for p in error.absolute_path) or None
        raise ParameterError(f"{param}: {error.message}" if param else error.message, param=param)
    return data
