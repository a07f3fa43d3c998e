"""`portkey-stub verify --base-url URL`: the real endpoint, checked against the spec and against the stub.

A small fixed plan, costing almost nothing: for each auth alternative given, one completion and
one stream (`max_tokens` 4, `temperature` 0, a `seed`); one with `n: 2`, one with `logprobs: 2`,
one with `echo`; and three free refusals (no API key, `max_tokens: -1`, an unknown virtual key).
Each answer is checked against the effective spec and a completion's own invariants
(`verify_checks`). The same plan goes to the project's own stub, in-process, and each difference
in kind is drift: a status, a Portkey header or a field on one side only, an error's type or code,
a chunk's shape. Text and token values are not compared.

Credentials come from flags or `PORTKEY_STUB_VERIFY_*` variables and are never printed: every
form of the report has them replaced by `***`, as it has a `--header` value whose name says it is
one (the journal's secret headers, or a name with auth, key, token, secret, password, cookie or
signature in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import verify_checks as checks
from .control.redaction import SECRET_HEADERS

ENV = "PORTKEY_STUB_VERIFY_"
# flag name -> the header it is sent as
CREDENTIALS = {
    "api_key": "x-portkey-api-key",
    "virtual_key": "x-portkey-virtual-key",
    "provider": "x-portkey-provider",
    "authorization": "authorization",
    "config": "x-portkey-config",
}
PROMPT = "Say this is a test"
SEED = 7
UNKNOWN_VIRTUAL_KEY = "vk-portkey-stub-verify-unknown"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    name: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    expect: tuple[int, ...] = ()  # a refusal's statuses; () for a completion


@dataclass
class Outcome:
    step: Step
    status: int
    stub_status: int | None = None
    violations: list[tuple[str, str]] = field(default_factory=list)
    drift: list[tuple[str, str]] = field(default_factory=list)


def plan(credentials: Mapping[str, str], extra: Mapping[str, str], model: str) -> list[Step]:
    """The fixed plan for the credentials given; empty when they make no alternative."""
    key = {"x-portkey-api-key": credentials["api_key"]} if credentials.get("api_key") else {}
    alternatives = []
    if credentials.get("virtual_key"):
        alternatives.append(("virtual_key", {"x-portkey-virtual-key": credentials["virtual_key"]}))
    if credentials.get("provider") and credentials.get("authorization"):
        bearer = credentials["authorization"]
        bearer = bearer if bearer.lower().startswith("bearer ") else f"Bearer {bearer}"
        alternatives.append(("provider", {"x-portkey-provider": credentials["provider"], "authorization": bearer}))
    if credentials.get("config"):
        alternatives.append(("config", {"x-portkey-config": credentials["config"]}))
    if not key or not alternatives:
        return []
    body = {"model": model, "prompt": PROMPT, "max_tokens": 4, "temperature": 0, "seed": SEED}
    steps = []
    for name, headers in alternatives:
        sent = {**extra, **key, **headers}
        steps += [Step(f"{name}: completion", sent, body), Step(f"{name}: stream", sent, {**body, "stream": True})]
    first = {**extra, **key, **alternatives[0][1]}
    steps += [
        Step("n 2", first, {**body, "n": 2, "max_tokens": 2}),
        Step("logprobs 2", first, {**body, "logprobs": 2, "max_tokens": 2}),
        Step("echo", first, {**body, "echo": True, "max_tokens": 1}),
        Step("refused: no API key", {**extra, **alternatives[0][1]}, body, (401,)),
        Step("refused: max_tokens -1", first, {**body, "max_tokens": -1}, (400,)),
        Step(
            "refused: unknown virtual key",
            {**extra, **key, "x-portkey-virtual-key": UNKNOWN_VIRTUAL_KEY},
            body,
            (401, 404),
        ),
    ]
    return steps


def cost(step: Step) -> int:
    """The most tokens a step can cost: its prompt (echoed too) and max_tokens for each choice."""
    if step.expect:
        return 0  # refused before any model runs
    from portkey_completions.engine.tokenizer import cl100k

    prompt = len(cl100k().encode(str(step.body.get("prompt", ""))))
    n = int(step.body.get("n") or 1)
    return prompt * (2 if step.body.get("echo") else 1) + int(step.body.get("max_tokens") or 16) * n


async def send(client: Any, path: str, step: Step) -> checks.Answer:
    async with client.stream("POST", path, json=dict(step.body), headers=dict(step.headers)) as response:
        raw = await response.aread()
        return checks.read(response.status_code, dict(response.headers), raw)


def stub_app(credentials: Mapping[str, str]) -> Any:
    """The stub, in-process, checking keys as the endpoint does: the API key and virtual key given are its store's."""
    from portkey_completions.app import create_app
    from portkey_completions.core.headers import STUB
    from portkey_completions.gateway.store import Store, VirtualKey

    virtual_keys = {credentials["virtual_key"]: VirtualKey(STUB)} if credentials.get("virtual_key") else {}
    return create_app(store=Store(api_keys=(credentials["api_key"],), virtual_keys=virtual_keys))


def stub_side(step: Step) -> Step:
    """The step as the stub gets it: a provider or a config that points at the stub (its engine answers all)."""
    headers = dict(step.headers)
    if "x-portkey-provider" in headers:
        headers["x-portkey-provider"] = "stub"
    if "x-portkey-config" in headers:
        headers["x-portkey-config"] = '{"provider": "stub"}'
    return Step(step.name, headers, step.body, step.expect)


async def run(base_url: str, steps: list[Step], timeout: float, stub: Any) -> list[Outcome]:
    """Each step sent to the endpoint and to the stub (`stub_app`) in-process; checked and compared."""
    import httpx

    in_process = httpx.ASGITransport(app=stub, client=("127.0.0.1", 40000))
    outcomes = []
    async with (
        httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout) as real,
        httpx.AsyncClient(transport=in_process, base_url="http://stub/v1", timeout=timeout) as ours,
    ):
        answers: dict[str, checks.Answer] = {}
        for step in steps:
            answer, theirs = await send(real, "/completions", step), await send(ours, "/completions", stub_side(step))
            answers[step.name] = answer
            outcome = Outcome(step, answer.status, theirs.status)
            if step.expect and answer.status not in step.expect:
                outcome.violations.append(
                    ("refusal-status", f"{answer.status}, where {' or '.join(map(str, step.expect))} was due")
                )
            outcome.violations += checks.against_spec(answer) + checks.invariants(step.body, answer)
            outcome.drift += drift(answer, theirs)
            outcomes.append(outcome)
        _stream_matches(outcomes, answers)
    return outcomes


def _stream_matches(outcomes: list[Outcome], answers: Mapping[str, checks.Answer]) -> None:
    """A stream's text joined is the completion's, for the same request (temperature 0, a seed)."""
    for outcome in outcomes:
        if not outcome.step.name.endswith(": stream"):
            continue
        streamed = checks.stream_text(answers[outcome.step.name])
        whole = answers.get(outcome.step.name.replace(": stream", ": completion"))
        completed = None if whole is None else checks.text(whole)
        if streamed is not None and completed is not None and streamed != completed:
            outcome.violations.append(("stream-equals-completion", "the stream's text joined is not the completion's"))


def drift(real: checks.Answer, stub: checks.Answer) -> list[tuple[str, str]]:
    """Each difference in kind between the endpoint's answer and the stub's (values are not compared)."""
    if real.status != stub.status:  # the rest would differ for that reason alone
        return [("status", f"{real.status} here, {stub.status} from the stub")]
    found = []
    for name in sorted(_portkey_headers(real) ^ _portkey_headers(stub)):
        side = "the endpoint" if name in real.headers else "the stub"
        found.append(("header", f"{name} only from {side}"))
    if real.status >= 400 and stub.status >= 400:
        for key in ("type", "code"):
            mine, theirs = _error(real.body).get(key), _error(stub.body).get(key)
            if mine != theirs:
                found.append(("error-kind", f"error.{key} is {mine!r} here, {theirs!r} from the stub"))
    elif real.events is None and stub.events is None:
        for path in sorted(_paths(real.body) ^ _paths(stub.body)):
            found.append(("field", f"{path} only from {'the endpoint' if path in _paths(real.body) else 'the stub'}"))
    elif real.events is not None and stub.events is not None:
        mine, theirs = _chunk_paths(real.events), _chunk_paths(stub.events)
        for path in sorted(mine ^ theirs):
            found.append(("chunk-shape", f"{path} only in the {'endpoint' if path in mine else 'stub'}'s chunks"))
    return found


def _portkey_headers(answer: checks.Answer) -> set[str]:
    return {name for name in answer.headers if name.startswith("x-portkey-") and name != "x-portkey-stub-synthesized"}


def _error(body: Any) -> Mapping[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _paths(value: Any, prefix: str = "") -> set[str]:
    """The key paths of a JSON value (`choices[].logprobs.tokens`), lists folded into `[]`."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.add(path)
            found |= _paths(item, path)
    elif isinstance(value, list):
        for item in value[:4]:
            found |= _paths(item, f"{prefix}[]")
    return found


def _chunk_paths(events: list[Any]) -> set[str]:
    return set().union(*(_paths(e) for e in events if isinstance(e, dict))) if events else set()


def report(base_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "base_url": base_url,
        "summary": {
            "requests": len(outcomes),
            "violations": sum(len(o.violations) for o in outcomes),
            "drift": sum(len(o.drift) for o in outcomes),
        },
        "steps": [
            {
                "name": o.step.name,
                "status": o.status,
                "stub_status": o.stub_status,
                "violations": [{"check": c, "what": w} for c, w in o.violations],
                "drift": [{"kind": k, "what": w} for k, w in o.drift],
            }
            for o in outcomes
        ],
    }


def rendered(found: Mapping[str, Any], form: str, secrets: list[str]) -> str:
    """The report as text, JSON or Markdown, with every credential replaced by `***`."""
    if form == "json":
        out = json.dumps(found, indent=2) + "\n"
    else:
        rows = [
            (kind, item.get("check") or item.get("kind"), step["name"], item["what"])
            for step in found["steps"]
            for kind, items in (("violation", step["violations"]), ("drift", step["drift"]))
            for item in items
        ]
        counts = found["summary"]
        said = f"{counts['requests']} requests to {found['base_url']}: "
        said += f"{counts['violations']} violations, {counts['drift']} drift"
        if form == "markdown":
            lines = ["## verify", "", said, "", "| finding | check | request | what |", "|---|---|---|---|"]
            lines += [f"| {a} | `{b}` | {c} | {d} |" for a, b, c, d in rows]
        else:
            lines = [f"{a:<10}{b:<26}{c:<30}{d}" for a, b, c, d in rows] + [said]
        out = "\n".join(lines) + "\n"
    return _redacted(out, secrets)


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    verify = commands.add_parser(
        "verify",
        help="check a real endpoint against the spec and against the stub",
        description="Send a small fixed plan (a few completions of at most 4 tokens, three refusals) to "
        "the endpoint and to the stub in-process; report each answer that breaks the spec or a "
        "completion's invariants (exit 1), and each difference in kind from the stub (drift). "
        f"Credentials come from the flags or {ENV}<NAME> and are never printed.",
    )
    verify.set_defaults(subparser=verify)
    verify.add_argument(
        "--base-url", default=os.environ.get(f"{ENV}BASE_URL"), help="the API root, e.g. https://api.portkey.ai/v1"
    )
    for name, header in CREDENTIALS.items():
        flag = "--" + name.replace("_", "-")
        verify.add_argument(
            flag, default=os.environ.get(f"{ENV}{name.upper()}"), help=f"sent as {header} (env: {ENV}{name.upper()})"
        )
    verify.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="one more header to send (repeatable)"
    )
    verify.add_argument("--model", default="gpt-3.5-turbo-instruct", help="the model asked for")
    verify.add_argument("--max-requests", type=int, metavar="N", help="send at most N requests of the plan")
    verify.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="per request")
    verify.add_argument("--dry-run", action="store_true", help="print the plan and its most tokens; send nothing")
    verify.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    verify.add_argument("--fail-on-drift", action="store_true", help="exit 1 on drift from the stub too")


def main(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.subparser
    credentials = {name: getattr(args, name) or "" for name in CREDENTIALS}
    extra = {}
    for given in args.header:
        name, sep, value = given.partition("=")
        if not sep or not name.strip():
            parser.error(f"--header {given.split('=')[0]}: give NAME=VALUE")
        extra[name.strip().lower()] = value
    secrets = [v for v in credentials.values() if v] + [v for k, v in extra.items() if _secret(k)]
    steps = plan(credentials, extra, args.model)
    if not steps:
        parser.error(
            "give --api-key, and --virtual-key, --provider with --authorization, or --config (or their variables)"
        )
    if args.max_requests is not None:
        steps = steps[: max(args.max_requests, 0)]
    if args.dry_run:
        out = "".join(
            f"{s.name:<30} {json.dumps(dict(s.body))}  headers: {', '.join(sorted(s.headers))}  "
            f"at most {cost(s)} tokens\n"
            for s in steps
        )
        out += f"{len(steps)} requests, at most {sum(cost(s) for s in steps)} tokens; nothing was sent (--dry-run)\n"
        sys.stdout.write(_redacted(out, secrets))
        return 0
    if not args.base_url:
        parser.error(f"--base-url (or {ENV}BASE_URL) is required")
    outcomes = asyncio.run(run(args.base_url, steps, args.timeout, stub_app(credentials)))
    found = report(args.base_url, outcomes)
    sys.stdout.write(rendered(found, args.format, secrets))
    failed = found["summary"]["violations"] or (args.fail_on_drift and found["summary"]["drift"])
    return 1 if failed else 0


def _secret(header: str) -> bool:
    """Whether a `--header` holds a credential: its value is never printed then."""
    return header in SECRET_HEADERS or any(word in header for word in _SECRET_WORDS)


_SECRET_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "signature")


def _redacted(out: str, secrets: list[str]) -> str:
    """`out` with every credential given replaced by `***` (the longest first: one may hold another).

    Not `control.redaction.redact`, which keeps a secret's last four characters for the journal to tell
    keys apart: a report printed for a team keeps nothing of a credential."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        out = out.replace(secret, "***")
    return out
