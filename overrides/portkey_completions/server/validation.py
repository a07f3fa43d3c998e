"""Request-body validation that answers in OpenAI's words, plugged in via connexion's validator_map."""

from __future__ import annotations

import json
import math
import typing as t

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import VALIDATOR_MAP
from connexion.validators.json import JSONRequestBodyValidator
from connexion.validators.parameter import ParameterValidator
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match

from portkey_completions.call.errors import ServerAPIError

INVALID_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON: {detail}"
)


def param_of(error: ValidationError) -> str | None:
    """The request field an error is about, as a dotted path (`n`, `stop.1`)."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # A missing field is reported on its parent object: name the field itself.
        required: t.Any = error.validator_value
        instance: t.Any = error.instance
        missing = [p for p in required if p not in instance]
        path += missing[:1]
    return ".".join(path) or None


class RequestBodyValidator(JSONRequestBodyValidator):
    """connexion's JSON body validator, with a ServerAPIError (and its `param`) for every refusal."""

    # connexion builds a validator object per request; the compiled schema is
    # kept per schema instead. The schema is stored beside it so its id stays taken.
    _compiled: t.ClassVar[dict[int, tuple[dict[str, t.Any], Draft4Validator]]] = {}

    @property
    def _validator(self) -> Draft4Validator:
        entry = self._compiled.get(id(self._schema))
        if entry is None:
            validator = Draft4RequestValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)
            entry = self._compiled[id(self._schema)] = (self._schema, validator)
        return entry[1]

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: t.Any) -> t.Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ServerAPIError(400, f"The request body is not valid {self._encoding}: {exc}.") from None
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ServerAPIError(400, INVALID_JSON.format(detail=exc)) from None
        except RecursionError:
            raise ServerAPIError(400, INVALID_JSON.format(detail="nested too deeply")) from None

    def _validate(self, body: t.Any) -> None:
        if body is None and not self._nullable:
            message = "The request body is empty: send a JSON object with at least `model` and `prompt`."
            raise ServerAPIError(400, message)
        refuse(self._validator, body)


def refuse(validator: Draft4Validator, body: t.Any) -> None:
    """A 400 naming the field (`param`) if `body` breaks the schema; nothing if it keeps it."""
    error = best_match(validator.iter_errors(body))
    if error is not None:
        param = param_of(error)
        where = f" - '{param}'" if param else ""
        raise ServerAPIError(400, f"{error.message}{where}", param=param)
    # Python's JSON reads NaN and Infinity, which JSON has not, and which every `minimum` and
    # `maximum` lets through (a comparison with NaN is false): refused here, by name.
    found = _non_finite(body)
    if found is not None:
        name = ".".join(found) or None
        raise ServerAPIError(400, f"Invalid value for '{name}': it must be a finite number.", param=name)


def _non_finite(node: t.Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where the first NaN or infinity is in a parsed body, or None."""
    if isinstance(node, float):
        return None if math.isfinite(node) else path
    if isinstance(node, dict):
        items: t.Iterable[tuple[t.Any, t.Any]] = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return None
    for key, value in items:
        found = _non_finite(value, (*path, str(key)))
        if found is not None:
            return found
    return None


class RequestParameterValidator(ParameterValidator):
    """connexion's path, query, header and cookie parameter checks, refusing in one line that names the parameter.

    connexion's own answer is a 400 whose detail is jsonschema's multi-line dump, with no `param`.
    """

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: t.Any, param: dict[str, t.Any], param_name: str | None = None
    ) -> str | None:
        name = str(param["name"])
        if value is None:
            if param.get("required"):
                raise ServerAPIError(400, f"Missing required {parameter_type} parameter '{name}'.", param=name)
            return None
        schema = param.get("schema", param)
        if value == "null" and (param.get("nullable") or schema.get("nullable")):
            return None
        problem = best_match(Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).iter_errors(value))
        if problem is not None:
            message = " ".join(problem.message.split())  # one line, whatever the value held
            raise ServerAPIError(400, f"Invalid {parameter_type} parameter '{name}': {message}", param=name)
        return None


VALIDATORS = {
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": RequestBodyValidator}),
    "parameter": RequestParameterValidator,
}
