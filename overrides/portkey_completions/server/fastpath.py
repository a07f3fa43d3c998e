"""The hot path: a valid POST /v1/completions answered without connexion's per-request middleware.

connexion's layers (routing, security, request validation, context) cost most of a request's
time. This middleware, outermost inside connexion, answers a request that passes the same
checks, done faster and decided up front:

- the auth alternative the door matched (`Call.requirement`);
- the body, by a validator compiled once (jsonschema-rs, draft 4) from the effective spec's
  CreateCompletionRequest, the schema connexion validates against;
- the size limit, by Content-Length;
- the header checks of RequestGuard (`limits.headers_fit`), and its deadline on the body.

It sits inside the door, which makes the call record and writes Portkey's headers on every
answer, and outside the layer only the slow path needs (RequestGuard): it bounds its own body
read, so that a request whose body arrives in one piece does not pay for that layer.

A request that fails any check, or that it cannot judge (no Content-Length, not JSON), goes on to
connexion untouched. Refusals therefore keep connexion's exact errors (and the layers' 431, 400
and 408): this path only accepts, it never refuses, except a body that stops arriving (408).
A test holds the two validators to the same verdicts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema_rs
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Call, Outcome
from portkey_completions.core import spec

from .door import exchange_of
from .limits import BodyDeadline, SlowBody, headers_fit, replay_body

logger = logging.getLogger(__name__)

Handle = Callable[[Call], Awaitable[Outcome]]
PATH = spec.base_path() + "/completions"


def compile_request_validator() -> Callable[[Any], bool]:
    schema = {**spec.schema("CreateCompletionRequest"), "$schema": "http://json-schema.org/draft-04/schema#"}
    # Rust, not Python: a body checks in well under a microsecond, where fastjsonschema took 9
    # (it raises and catches an exception per oneOf branch tried).
    check = jsonschema_rs.validator_for(schema).is_valid

    def valid(data: Any) -> bool:
        try:
            return bool(check(data))
        except ValueError:  # a value it cannot take in (an integer past 64 bits): connexion judges
            return False

    return valid


class FastPath:
    def __init__(self, app: ASGIApp, *, handle: Handle, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.handle = handle
        self.max_body_bytes = max_body_bytes
        self.deadline = BodyDeadline(body_timeout)
        self.valid = compile_request_validator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or not headers_fit(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        exchange = exchange_of(scope)
        call = exchange.call
        headers = call.headers
        length = headers.get("content-length", "")
        if (
            not headers.get("content-type", "").startswith("application/json")
            or not length.isdigit()
            or int(length) > self.max_body_bytes
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            try:
                message = await self.deadline.receive(receive)
            except SlowBody:
                await self.deadline.error().response()(scope, receive, send)
                return
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        replay = replay_body(raw, receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or call.requirement is None or not self.valid(body):
            await self.app(scope, replay, send)
            return
        call.body = body  # the edge's last word on the call: handed in from here on
        try:
            response = exchange.answered(await self.handle(call))
        except ServerAPIError as error:
            response = error.response()
        except Exception:
            logger.exception("POST %s failed", PATH)
            response = ServerAPIError(500, "The server had an error while processing your request.").response()
        await response(scope, replay, send)
