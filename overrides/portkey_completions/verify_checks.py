"""`verify`'s checks of one answer: against the effective spec, and a completion's own invariants.

Each finding names its check (`status-declared`, `body-valid`, `usage-adds-up`, …) so that a report
says which promise broke, and a test can plant each break and find it by name. Text and token
values are never judged: the real model's are its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from portkey_completions.core import spec, sse

PATH, METHOD = "/completions", "post"
ERROR_FIELDS = frozenset({"message", "type", "param", "code"})


@dataclass(frozen=True)
class Answer:
    """What came back for one request of the plan: enough to check it and to compare two sides."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    events: list[Any] | None = None  # a stream's data, parsed ([DONE] as the string), or None
    error: str | None = None  # what went wrong reading it (not JSON, a broken stream)


def read(status: int, headers: Mapping[str, str], raw: bytes) -> Answer:
    """An answer from its wire form: a JSON body, or an SSE stream's data."""
    lower = {k.lower(): v for k, v in headers.items()}
    if lower.get("content-type", "").startswith("text/event-stream"):
        events: list[Any] = []
        for data in sse.all_data(raw):
            try:
                events.append(data if data == "[DONE]" else json.loads(data))
            except ValueError:
                return Answer(status, lower, None, events, f"a chunk is not JSON: {data[:80]!r}")
        return Answer(status, lower, None, events)
    try:
        return Answer(status, lower, json.loads(raw) if raw else None)
    except ValueError:
        return Answer(status, lower, None, None, f"the body is not JSON: {raw[:80]!r}")


def against_spec(answer: Answer) -> list[tuple[str, str]]:
    """(check, what) for each way the answer breaks the effective spec."""
    found: list[tuple[str, str]] = []
    if spec.response(PATH, METHOD, answer.status) is None:
        return [("status-declared", f"the status {answer.status} is not declared")]
    for name, header in spec.response_headers(PATH, METHOD, answer.status).items():
        if header.get("required") and name not in answer.headers:
            found.append(("headers-valid", f"the required header {name} is missing"))
    if answer.error is not None:
        return [*found, ("body-valid", answer.error)]
    schemas = spec.response_schemas(PATH, METHOD, answer.status)
    if answer.events is not None:
        found += _stream(answer.events, schemas.get("text/event-stream"))
    elif "application/json" in schemas:
        problem = _violation(schemas["application/json"], answer.body)
        if problem:
            found.append(("body-valid", problem))
    if answer.status >= 400 and answer.events is None:
        found += openai_error(answer.body)
    return found


def _stream(events: list[Any], schema: Any) -> list[tuple[str, str]]:
    found = []
    if not events or events[-1] != "[DONE]":
        found.append(("stream-ends-done", "the stream does not end in data: [DONE]"))
    for i, event in enumerate(e for e in events if e != "[DONE]"):
        problem = _violation(schema, event) if schema else None
        if problem:
            found.append(("chunk-valid", f"chunk {i}: {problem}"))
            break  # one is enough to say the shape broke
    return found


def _violation(schema: Any, instance: Any) -> str | None:
    error = jsonschema.exceptions.best_match(jsonschema.Draft4Validator(schema).iter_errors(instance))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def openai_error(body: Any) -> list[tuple[str, str]]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not ERROR_FIELDS <= set(error):
        return [("error-shape", "the error is not {error: {message, type, param, code}}")]
    return []


def invariants(request: Mapping[str, Any], answer: Answer) -> list[tuple[str, str]]:
    """(check, what) for each of a completion's own promises the answer breaks (a 200's)."""
    if answer.status != 200 or answer.error is not None:
        return []
    body = _assembled(answer) if answer.events is not None else answer.body
    if not isinstance(body, dict):
        return []
    found = []
    usage = body.get("usage") or {}
    prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if isinstance(prompt, int) and isinstance(completion, int) and total != prompt + completion:
        found.append(("usage-adds-up", f"usage.total_tokens {total} is not {prompt} + {completion}"))
    n, cap = int(request.get("n") or 1), request.get("max_tokens")
    if completion is not None and cap is not None and completion > cap * n:
        found.append(("within-max-tokens", f"{completion} completion tokens, over max_tokens {cap} x n {n}"))
    choices = body.get("choices") or []
    if sorted(c.get("index") for c in choices) != list(range(n)):
        found.append(("choice-indexes", f"the choices' indexes are {[c.get('index') for c in choices]}, not 0…{n - 1}"))
    if completion is not None and cap is not None and n == 1 and completion >= cap and choices:
        if choices[0].get("finish_reason") != "length":
            found.append(
                (
                    "finish-reason-length",
                    f"capped at max_tokens, yet finish_reason is {choices[0].get('finish_reason')!r}",
                )
            )
    for choice in choices:
        logprobs = choice.get("logprobs") or {}
        lengths = {
            k: len(logprobs[k])
            for k in ("tokens", "token_logprobs", "top_logprobs", "text_offset")
            if isinstance(logprobs.get(k), list)
        }
        if len(set(lengths.values())) > 1:
            found.append(("logprobs-per-token", f"choice {choice.get('index')}: logprobs arrays of lengths {lengths}"))
    return found


def _assembled(answer: Answer) -> dict[str, Any]:
    """A stream's chunks as the completion they make: texts joined per choice, the last usage."""
    texts: dict[int, str] = {}
    finish: dict[int, Any] = {}
    usage = None
    for event in answer.events or []:
        if not isinstance(event, dict):
            continue
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            i = choice.get("index", 0)
            texts[i] = texts.get(i, "") + str(choice.get("text") or "")
            finish[i] = choice.get("finish_reason") or finish.get(i)
    return {
        "choices": [{"index": i, "text": t, "finish_reason": finish.get(i)} for i, t in texts.items()],
        "usage": usage,
    }


def stream_text(answer: Answer) -> str | None:
    """A stream's text, joined (the first choice's); None for an answer that is not a 200 stream."""
    if answer.status != 200 or answer.events is None:
        return None
    choices = _assembled(answer)["choices"]
    return choices[0]["text"] if choices else ""


def text(answer: Answer) -> str | None:
    """A JSON completion's text (the first choice's)."""
    if answer.status != 200 or not isinstance(answer.body, dict):
        return None
    choices = answer.body.get("choices") or []
    return str(choices[0].get("text")) if choices else None
