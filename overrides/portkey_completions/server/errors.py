"""Every error leaves the server in the OpenAI shape: whatever connexion or starlette raised, translated.

And the last-resort 500, where nothing else answered.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable

from connexion.exceptions import NonConformingResponse, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.shape import Hangup
from portkey_completions.core import spec

logger = logging.getLogger(__name__)


def connexion_response(error: ServerAPIError) -> ConnexionResponse:
    """An error as connexion's error handlers answer."""
    return ConnexionResponse(
        status_code=error.status,
        mimetype="application/json",
        content_type="application/json",
        body=error.content(),
        headers=error.headers,
    )


def invalid_response(problem: str) -> ServerAPIError:
    """The answer to an answer that breaks the spec (--validate-responses): a 500 naming what broke it."""
    logger.error("a response breaks the spec: %s", problem)
    message = f"The server's answer breaks the spec (--validate-responses): {problem}"
    return ServerAPIError(500, message, code="invalid_response")


def as_api_error(exc: Exception) -> ServerAPIError:
    """Translate whatever connexion or starlette raised into an ServerAPIError."""
    if isinstance(exc, ServerAPIError):
        return exc
    if isinstance(exc, NonConformingResponse):  # connexion's own response validation, on its path
        return invalid_response(" ".join(str(exc.detail or exc.title).split()))
    if isinstance(exc, ProblemException):
        status = exc.status
        message = exc.detail or exc.title or "Request failed"
        headers = exc.headers
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        message = exc.detail
        headers = exc.headers
    else:
        return ServerAPIError(500, "The server had an error while processing your request.")
    if status == 404:
        message = f"Unknown path. This server serves {spec.operations_served()}."
    elif status == 405:
        allowed = {k.lower(): v for k, v in (headers or {}).items()}.get("allow")
        message = f"Method not allowed here. Allowed: {allowed}." if allowed else "Method not allowed here."
    elif status == 415:
        message = "Unsupported Content-Type: send the body as application/json."
    return ServerAPIError(status, message, headers=headers)


def _answering(exc: Exception, method: str, path: str) -> ServerAPIError:
    """What an exception is answered with; a server error is logged, with its traceback."""
    error = as_api_error(exc)
    if error.status >= 500:
        logger.error("%s %s failed", method, path, exc_info=exc)
    return error


async def handle_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """The one error handler, registered for every exception class."""
    return connexion_response(_answering(exc, request.method, request.url.path))


class ServerErrorMiddleware:
    """In place of connexion's outermost layer: a last-resort 500 handler that works.

    connexion 3.3's default one is a coroutine function that starlette calls without awaiting:
    an exception raised outside connexion's exception middleware (in one of ours) ended in a
    TypeError and a dropped connection instead of a 500.

    It also ends the exchange where a pace raised `call.shape.Hangup`: returning without the last
    body message makes uvicorn drop the connection, which is the fault asked for, and uvicorn's
    line about the unfinished response is filtered out for these exchanges (and only these).

    Not a subclass of connexion's (starlette's): that one wraps `send` in a coroutine of its own,
    a frame per message on every request, to learn whether the answer has started.
    """

    def __init__(self, next_app: ASGIApp) -> None:
        self.app = next_app
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if _QUIET not in uvicorn_errors.filters:
            uvicorn_errors.addFilter(_QUIET)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        def sending(message: Message) -> Awaitable[None]:  # the inner send's awaitable: no frame of its own
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await self.app(scope, receive, sending)
        except Hangup:
            _hung_up.set(True)  # stays set in this task's context while uvicorn logs
        except Exception as exc:
            error = _answering(exc, scope["method"], scope["path"])
            if not started:
                await error.response()(scope, receive, send)
            raise  # as starlette's does: uvicorn logs it, and a test client can raise it


# Set in the request's task when it ended by a Hangup, for the log filter below.
_hung_up: contextvars.ContextVar[bool] = contextvars.ContextVar("hung_up", default=False)


class _PlannedHangups(logging.Filter):
    """uvicorn logs an ERROR for a response left unfinished; for one a scenario asked for, that is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_hung_up.get() and "without completing response" in record.getMessage())


_QUIET = _PlannedHangups()
