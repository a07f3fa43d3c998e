"""Files and headers read through pydantic models, and what is wrong with one said in one line.

A format is declared as a model (`extra="forbid"`, constraints on its fields); `problem` turns
pydantic's report into the line a user reads: where (`virtual_keys.vk-prod.api_key`,
`targets[1].weight`), what was wrong, and for an unknown key the closest known one. `loaded`
reads YAML or TOML and says a syntax error as `file:line:column: what`.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from . import names

# pydantic's words, where ours say more in fewer.
_SAID = {
    "missing": "is required",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}
_TOML_AT = re.compile(r"^(?P<what>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def where(loc: Iterable[int | str]) -> str:
    """A location as the user writes it: `targets[1].weight`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem(error: pydantic.ValidationError, model: type[pydantic.BaseModel], whole: str = "the file") -> str:
    """The first thing wrong, in one line: where, and what (pydantic reports fields in their declared order).

    `whole`: what the document is called where nothing narrower is at fault.
    """
    errors = error.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        known = _fields(model, loc[:-1])
        said = names.unknown("key", str(loc[-1]), known)
        return f"{where(loc[:-1])}: {said}{more}" if loc[:-1] else f"{said}{more}"
    plain = _SAID.get(first["type"])
    if plain is not None:
        return f"{where(loc) or whole} {plain}{more}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where(loc)}: {message}{more}" if loc else f"{message}{more}"


def loaded(path: Path) -> Any:
    """A YAML file's data (TOML for `.toml`); a syntax error is a ValueError naming `file:line:column`."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_AT.match(str(exc))
            if found is None:
                raise ValueError(f"{path}: {exc}") from None
            raise ValueError(f"{path}:{found['line']}:{found['column']}: {found['what']}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "not YAML"
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ValueError(f"{at}: {what}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _fields(model: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model declares at `loc` (through nested models, mappings and lists)."""
    kind = model
    for part in loc:
        kind = _bare(kind)
        if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
            field = kind.model_fields.get(str(part))
            kind = None if field is None else field.annotation
        elif typing.get_origin(kind) in (dict, Mapping):
            kind = typing.get_args(kind)[1]
        elif typing.get_origin(kind) in (list, tuple):
            kind = typing.get_args(kind)[0]
    kind = _bare(kind)
    if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        return [f.alias or name for name, f in kind.model_fields.items()]
    return []


def _bare(kind: Any) -> Any:
    """`X | None` and `Annotated[X, …]` as X."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif typing.get_origin(kind) in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(kind) if a is not type(None)]
            if len(options) != 1:
                return kind
            kind = options[0]
        else:
            return kind
