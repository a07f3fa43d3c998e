"""Forwarding one request to an OpenAI-compatible upstream, and its answer back, unchanged where it can be.

- The body and the upstream's own `Authorization` go out, with `Accept` and `User-Agent`, the
  caller's headers a config's `forward_headers` (or `x-portkey-forward-headers`) name, a
  config's OpenAI organization and project, and the trace (`x-portkey-trace-id`, `traceparent`);
  no other `x-portkey-*` header, and never the Portkey key.
- The upstream's answer headers come back, as Portkey's gateway passes them (rate limits,
  request ids, processing times), less those that describe one hop (`Connection`,
  `Transfer-Encoding`, `Content-Length`, …), which belong to the connection they came on.
- A stream is passed through as its events arrive, byte-identical, with an error event where
  the upstream fails part-way (relay.py).
- An error keeps its status; a body that is not OpenAI's error shape is wrapped in it.
- An unreachable upstream is a 502, a silent one a 504, with the reason in words.
- With `validate`, responses and streamed chunks are checked against the spec on the way
  through; violations go to the log and, for a JSON response, to a response header.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpcore
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from portkey_completions.call.errors import ServerAPIError, error_type
from portkey_completions.core import headers as portkey
from portkey_completions.core import retry_after, spec, sse, untrusted
from portkey_completions.observe.metrics import Tokens

from . import hosts
from .pool import TRANSPORT_ERRORS
from .relay import relay

logger = logging.getLogger(__name__)

VIOLATION_HEADER = "x-portkey-upstream-violation"
# What the upstream hears of the caller's request, besides the body, its own key and the headers forwarded.
_PASSED_ON = ("accept", "user-agent")
# Never forwarded, even when named: the gateway sets these itself, for this hop.
_OWN = frozenset(
    {"host", "content-type", "content-length", "accept-encoding", "transfer-encoding", "connection", "te", "upgrade"}
)
# Never passed back: they describe the upstream's connection, or uvicorn writes its own.
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "content-encoding", "date", "server",
    }
)  # fmt: skip


class Answer(NamedTuple):
    """An upstream's answer: its status, and the response to send on (not yet sent)."""

    status: int
    response: Response
    retry_after: float | None = None  # seconds, as core.retry_after reads the answer's headers
    code: str | None = None  # the gateway's own error code when it answered for the upstream (unreachable, …)

    async def discard(self) -> None:
        """Release the upstream connection of an answer that will not be sent (a fallback moved on)."""
        if self.response.background is not None:
            await self.response.background()


async def forward(
    pool: httpcore.AsyncConnectionPool,
    base_url: str,
    api_key: str | None,
    body: dict[str, Any],
    caller_headers: Mapping[str, str],
    *,
    provider: str,
    validate: bool,
    timeout: float,
    tokens: Tokens,
    draining: threading.Event,
    forward: tuple[str, ...] = (),
    extra: Mapping[str, str] = MappingProxyType({}),
    tracing: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    """POST the body to the upstream's /completions; its answer, not yet sent on.

    Args:
        forward: names of the caller's headers to send on (a config's `forward_headers`).
        extra: headers a config sets for the upstream (OpenAI-Organization, OpenAI-Project).
        tracing: the trace headers (`observe.tracing.forwarded`): Portkey's trace id and `traceparent`.
        tokens: where the usage answered is counted.
        draining: set on a shutdown signal: a relayed stream ends with `shutting_down`.
    """
    url = base_url.rstrip("/") + "/completions"
    # httpx's JSON encoding, which upstreams saw before the gateway spoke to httpcore.
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    headers = _headers(url, payload, api_key, caller_headers, forward, extra, tracing)
    timeouts = {"connect": min(10.0, timeout), "read": timeout, "write": timeout, "pool": timeout}
    request = httpcore.Request("POST", url, headers=headers, content=payload, extensions={"timeout": timeouts})
    try:
        response = await pool.handle_async_request(request)
    except hosts.HostRefused as exc:
        raise exc.api_error() from None
    except httpcore.TimeoutException:
        logger.warning("upstream %s at %s did not answer in %.1f s", provider, base_url, timeout)
        return _error(504, f"The upstream {provider} at {base_url} did not answer in time.", "upstream_timeout")
    except TRANSPORT_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        logger.warning("upstream %s at %s unreachable: %s", provider, base_url, reason)
        return _error(502, f"Could not reach the upstream {provider} at {base_url}: {reason}.", "upstream_unreachable")
    return await _answer(response, provider, validate, body.get("model"), tokens, draining)


def _headers(
    url: str,
    payload: bytes,
    api_key: str | None,
    caller_headers: Mapping[str, str],
    forward: tuple[str, ...],
    extra: Mapping[str, str],
    tracing: tuple[tuple[bytes, bytes], ...],
) -> list[tuple[bytes, bytes]]:
    """The request's headers: the gateway's own, the caller's passed on and forwarded, the config's, the key."""
    headers = [
        (b"host", urlsplit(url).netloc.rpartition("@")[2].encode("idna")),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        # The gateway passes bodies on as they are; a compressed one would reach the caller
        # without its Content-Encoding.
        (b"accept-encoding", b"identity"),
        *((k.encode(), v.encode("latin-1")) for k, v in caller_headers.items() if k in _PASSED_ON),
        *((k.encode(), v.encode("latin-1")) for k, v in extra.items()),
        *tracing,
    ]
    sent = {k.decode() for k, _ in headers}
    for name in forward:
        if name in caller_headers and name not in _OWN and name not in sent and name != portkey.API_KEY:
            headers.append((name.encode(), caller_headers[name].encode("latin-1")))
            sent.add(name)
    if api_key:  # the upstream key wins over a forwarded Authorization
        headers = [h for h in headers if h[0] != b"authorization"]
        headers.append((b"authorization", portkey.authorization(api_key).encode("latin-1")))
    return headers


async def _answer(
    response: httpcore.Response, provider: str, validate: bool, model: Any, tokens: Tokens, draining: threading.Event
) -> Answer:
    """The upstream's answer as it goes on: a stream relayed, a body read (and checked), an error in OpenAI's shape."""
    status = response.status
    answer_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
    back = {k: v for k, v in answer_headers.items() if k not in _HOP_BY_HOP}
    wait = retry_after.seconds(answer_headers)
    success = 200 <= status < 300
    if success and answer_headers.get("content-type", "").startswith("text/event-stream"):
        events = relay(response, provider, validate=validate, tokens=tokens, draining=draining, model=model)
        back = {**{k.lower(): v for k, v in sse.HEADERS.items()}, **back}  # as Portkey: never buffered on the way
        stream = StreamingResponse(events, status, headers=back, background=BackgroundTask(response.aclose))
        return Answer(status, stream, wait)
    try:
        raw = await response.aread()
    except TRANSPORT_ERRORS as exc:
        return _error(
            502, f"The upstream {provider} broke off its answer: {exc or type(exc).__name__}.", "upstream_error"
        )
    finally:
        await response.aclose()
    if success:
        tokens.reported(model, raw)
        if validate:
            problem = _violation(raw, "CreateCompletionResponse")
            if problem:
                logger.warning("upstream %s broke the contract: %s", provider, problem)
                back[VIOLATION_HEADER] = problem[:500]
        return Answer(status, Response(raw, status, headers=back), wait)
    back.pop("content-type", None)
    payload = raw if _openai_error(raw) else json.dumps(_wrapped(status, raw)).encode()
    return Answer(status, Response(payload, status, headers=back, media_type="application/json"), wait)


def _error(status: int, message: str, code: str) -> Answer:
    return Answer(status, ServerAPIError(status, message, code=code).response(), code=code)


def _openai_error(raw: bytes) -> bool:
    try:
        data = untrusted.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("error"), dict) and "message" in data["error"]


def _wrapped(status: int, raw: bytes) -> dict[str, Any]:
    text = raw.decode("utf-8", errors="replace").strip()
    message = text[:1000] or f"The upstream answered {status} with no body."
    return ServerAPIError(status, message, type=error_type(status)).body()


def _violation(raw: bytes, schema: str) -> str | None:
    try:
        data = untrusted.loads(raw)
    except ValueError:
        return "the body is not JSON"
    return spec.first_error(schema, data)
