"""Saved prompts (Portkey's prompt completions): a template, where it runs, and its hyperparameters.

`POST /prompts/{promptId}/completions` is a completion by another door: the saved prompt's
template, its `{{variables}}` filled from the request, becomes the completion's `prompt`, over
the prompt's hyperparameters and under the request's own (sent at the root, as Portkey asks).
The call then runs as any completion does (scenarios, the gateway's routes, the stub), and its
answer comes back in the spec's envelope, `{status, headers, body}`; a stream streams as is.

Templates are Mustache's variables only (`{{name}}`, spaces allowed): a template with sections,
partials or comments is refused when the store loads, never rendered half right. A variable the
template uses and the request lacks, or one it sends that the template does not use, is a 400
naming it (Portkey renders the first as empty and ignores the second: documented as deliberate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pydantic
from starlette.responses import Response, StreamingResponse

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core import formats, spec

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
# The request's keys that are the prompt call's own, not the completion's.
VARIABLES, NESTED = "variables", "hyperparameters"
SUCCESS = "success"


class SavedPrompt(pydantic.BaseModel):
    """A store file's `prompts.<id>` entry, as declared (what a model cannot say is checked below)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    template: str
    virtual_key: str | None = None  # one of the store's virtual keys (the store checks which)
    hyperparameters: dict[str, Any] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("template")
    @classmethod
    def _variables_only(cls, template: str) -> str:
        if not template:
            raise ValueError("needs a template (a string with {{variables}})")
        if "{{" in VARIABLE.sub("", template):
            raise ValueError("the template may use {{variable}} only (no Mustache sections, partials or comments)")
        return template

    @pydantic.field_validator("hyperparameters")
    @classmethod
    def _completion_fields(cls, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        fields = set(spec.schema("CreateCompletionRequest").get("properties", {})) - {"prompt", "stream"}
        unknown = sorted(set(hyperparameters) - fields)
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a completion field ({', '.join(sorted(fields))})")
        return hyperparameters


@dataclass(frozen=True)
class Prompt:
    """A saved prompt, as the store holds it.

    Attributes:
        template: The completion's prompt, with `{{variables}}`.
        virtual_key: Where it runs when the request's headers name no route; None: the stub.
        hyperparameters: The completion's fields (model, max_tokens, ...); the request's win.
    """

    template: str
    virtual_key: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: Any) -> Prompt:
        """A store file's `prompts.<id>` entry; ValueError saying, in one line, what is wrong with it and where."""
        try:
            saved = SavedPrompt.model_validate(entry)
        except pydantic.ValidationError as exc:
            raise ValueError(formats.problem(exc, SavedPrompt)) from None
        return cls(saved.template, saved.virtual_key, saved.hyperparameters)

    def variables(self) -> list[str]:
        """The template's variables, each once, in order."""
        return list(dict.fromkeys(VARIABLE.findall(self.template)))

    def completion(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The completion request a validated prompt call stands for; a 400 naming what does not fit."""
        if NESTED in request:
            raise ServerAPIError(
                400, "Send hyperparameters at the root of the body, beside `variables`, not nested.", param=NESTED
            )
        if "prompt" in request:
            raise ServerAPIError(400, "A saved prompt's template is its prompt: send `variables`.", param="prompt")
        values = request[VARIABLES]
        used = self.variables()
        for name in used:
            if name not in values:
                raise ServerAPIError(
                    400, f"Missing variable {name!r}: the prompt uses {_listed(used)}.", param=f"{VARIABLES}.{name}"
                )
        for name in values:
            if name not in used:
                raise ServerAPIError(
                    400, f"Unknown variable {name!r}: the prompt uses {_listed(used)}.", param=f"{VARIABLES}.{name}"
                )
        text = VARIABLE.sub(lambda m: _text(values[m.group(1)]), self.template)
        own = {k: v for k, v in request.items() if k != VARIABLES}
        return {**self.hyperparameters, **own, "prompt": text}


def _listed(names: list[str]) -> str:
    return ", ".join(names) if names else "no variables"


def _text(value: Any) -> str:
    """A variable's value as Mustache writes it: a string as is, null as nothing, anything else as JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else orjson.dumps(value).decode()


async def answered(response: Response) -> Response:
    """A completion's answer in the spec's prompt-completion envelope; a stream and an error pass as they are."""
    media = response.headers.get("content-type", "")
    if response.status_code != 200 or not media.startswith("application/json"):
        return response
    if isinstance(response, StreamingResponse):  # a replayed answer comes in pieces
        # Starlette's chunks are str, bytes or memoryview, as it writes them itself.
        raw = b"".join([c.encode() if isinstance(c, str) else bytes(c) async for c in response.body_iterator])
    else:
        raw = bytes(response.body)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    envelope = {"status": SUCCESS, "headers": headers, "body": orjson.loads(raw)}
    wrapped = Response(orjson.dumps(envelope), 200, headers=headers)
    wrapped.background = response.background
    return wrapped
