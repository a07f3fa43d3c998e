"""Files and headers read through pydantic models, and what is wrong with one said in one line.

A format is declared as a model (`extra="forbid"`, constraints on its fields); `problem` turns
pydantic's report into the line a user reads: where (`virtual_keys.vk-prod.api_key`,
`targets[1].weight`), what was wrong, and for an unknown key the closest known one. `loaded`
reads YAML or TOML and says a syntax error as `file:line:column: what`; `yaml_data` reads YAML
text so, a redefined anchor as the YAML spec reads it.
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


def problem(error: pydantic.ValidationError, model: Any, whole: str = "the file", prefix: str = "") -> str:
    """The first thing wrong, in one line: where, and what (pydantic reports fields in their declared order).

    `model`: the model class (or annotation) validated. `whole`: what the document is called where
    nothing narrower is at fault. `prefix`: the document's own name at the head of every path (`config`).
    An unknown key is said first: it is the likeliest cause of anything else, a required key "missing" included.
    """
    errors = sorted(error.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    if first["type"] == "extra_forbidden":  # a key missing beside a misspelled one is the same mistake
        errors = [e for e in errors if not (e["type"] == "missing" and e["loc"][:-1] == first["loc"][:-1])]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    found = _walk(model, tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        said = names.unknown("key", str(first["loc"][-1]), _keys(found.parent))
        shown = where((prefix, *found.loc[:-1]) if prefix else found.loc[:-1])
        return f"{shown}: {said}{more}" if shown else f"{said}{more}"
    shown = where((prefix, *found.loc) if prefix else found.loc)
    plain = _said(first, found)
    if plain is not None:
        return f"{shown or whole} {plain}{more}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{shown}: {message}{more}" if shown else f"{message}{more}"


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
    return yaml_data(text, str(path))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading a redefined anchor as the YAML spec does: an alias takes the latest
    definition (PyYAML stops on it; published specs have them, e.g. `&run_temperature_description`)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]  # PyYAML's stubs type no events
            if anchor is not None:
                self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


def yaml_data(text: str | bytes, name: str) -> Any:
    """YAML (or JSON) text's data; an error is a ValueError of one line: `name:line:column: what`."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "not YAML"
        at = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise ValueError(f"{at}: {what}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: {' '.join(str(exc).split())}") from None


class _Found(typing.NamedTuple):
    """Where an error is, as the user writes it, and what the model declares there."""

    loc: tuple[int | str, ...]  # with the tags of tagged unions left out
    kind: Any  # the declared type at the end of the location
    parent: Any  # the declared type that holds it (its keys name an unknown one's neighbours)
    field: pydantic.fields.FieldInfo | None  # the field's declaration, bounds included


def _walk(model: Any, loc: tuple[int | str, ...]) -> _Found:
    """Follow `loc` through the declared types: models, mappings, lists and tagged unions."""
    shown: list[int | str] = []
    kind, parent, field = model, model, None
    for part in loc:
        bare = _bare(kind)
        member = _tagged(bare, part)
        if member is not None:  # a tag: pydantic's word for which kind of a union, never the user's
            kind = member
            continue
        parent, field = bare, None
        if isinstance(bare, type) and issubclass(bare, pydantic.BaseModel):
            field = bare.model_fields.get(str(part))
            kind = None if field is None else field.annotation
            if field is not None:
                field = pydantic.fields.FieldInfo.merge_field_infos(field, *_infos(kind))
        elif typing.get_origin(bare) in (dict, Mapping):
            kind = typing.get_args(bare)[1]
            field = _merged(kind)
        elif typing.get_origin(bare) in (list, tuple):
            kind = typing.get_args(bare)[0]
            field = _merged(kind)
        else:
            kind = None
        shown.append(part)
    return _Found(tuple(shown), _bare(kind), _bare(parent), field)


def _merged(kind: Any) -> pydantic.fields.FieldInfo | None:
    infos = _infos(kind)
    return pydantic.fields.FieldInfo.merge_field_infos(*infos) if infos else None


def _infos(kind: Any) -> list[pydantic.fields.FieldInfo]:
    """The `Field(...)` declarations on `Annotated[X, Field(...)]` (also inside `… | None`)."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            return [m for m in typing.get_args(kind)[1:] if isinstance(m, pydantic.fields.FieldInfo)]
        options = _options(kind)
        if len(options) != 1 or options[0] is kind:
            return []
        kind = options[0]


def _tagged(kind: Any, part: int | str) -> Any:
    """The member of a tagged union that `part` names, if `kind` is one and `part` a tag."""
    if not isinstance(part, str):
        return None
    for option in _options(kind):
        if typing.get_origin(option) is typing.Annotated:
            if any(isinstance(m, pydantic.Tag) and m.tag == part for m in typing.get_args(option)[1:]):
                return typing.get_args(option)[0]
    return None


def _options(kind: Any) -> list[Any]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(kind) if a is not type(None)]
    return [kind]


def _keys(kind: Any) -> list[str]:
    if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        return [f.alias or name for name, f in kind.model_fields.items()]
    return []


def _bare(kind: Any) -> Any:
    """`X | None` and `Annotated[X, …]` as X."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
            continue
        options = _options(kind)
        if len(options) != 1 or options[0] is kind:
            return kind
        kind = options[0]


# pydantic's error types whose meaning is the field's declared type and bounds.
_NUMBERS = {"int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "finite_number"}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _said(error: Any, found: _Found) -> str | None:
    """Our words for pydantic's error, from what the field declares: bounds, allowed values, a pattern."""
    kind = error["type"]
    if kind in _NUMBERS | _BOUNDS:
        return _range(found)
    if kind == "literal_error":
        allowed = [str(a) for a in typing.get_args(found.kind)]
        near = names.closest(str(error["input"]), allowed)
        hint = f" (did you mean {near!r}?)" if near else ""
        return f"{error['input']!r} is not one of {', '.join(allowed)}{hint}"
    if kind == "string_pattern_mismatch" and found.field is not None and found.field.description:
        return f"must be {found.field.description}"
    return _SAID.get(kind)


def _range(found: _Found) -> str:
    """`must be an integer from 0 to 5`, `must be a number greater than 0, at most 600 (seconds)`."""
    what = "an integer" if found.kind is int else "a number"
    bounds = {type(m).__name__.lower(): getattr(m, type(m).__name__.lower()) for m in _metadata(found.field)}
    low = bounds.get("ge", None if "gt" not in bounds or what == "a number" else bounds["gt"] + 1)
    if low is not None and "le" in bounds:
        span = f" from {low} to {bounds['le']}"
    else:
        parts = [f"greater than {bounds['gt']}" if "gt" in bounds else "", f"at least {low}" if low is not None else ""]
        parts += [
            f"at most {bounds['le']}" if "le" in bounds else "",
            f"less than {bounds['lt']}" if "lt" in bounds else "",
        ]
        span = " " + ", ".join(p for p in parts if p) if any(parts) else ""
    unit = f" ({found.field.description})" if found.field is not None and found.field.description else ""
    return f"must be {what}{span}{unit}"


def _metadata(field: pydantic.fields.FieldInfo | None) -> list[Any]:
    return [m for m in (field.metadata if field is not None else ()) if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")]
