"""Every error leaves the server in the OpenAI shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Mapping

from connexion.exceptions import NonConformingResponse, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.core import spec

from .shaping import Hangup

logger = logging.getLogger(__name__)

# OpenAI's `type` for each status; a status not listed falls back by family.
ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    504: "timeout_error",
}


MAX_MESSAGE = 1000


def error_type(status: int) -> str:
    """The OpenAI error `type` for an HTTP status."""
    return ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


class ServerAPIError(ProblemException):
    """An error the server answers with, carrying OpenAI's `param` and `code`.

    A ProblemException subclass so that connexion's middlewares let it through
    to the one handler below, wherever it is raised.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE:
            # A message may quote the input (a schema error quotes the value): a 1 MB value
            # would come back as a 1 MB message, and land in logs. The end says what is wrong.
            message = message[: MAX_MESSAGE - 300] + " … " + message[-297:]
        super().__init__(status=status, detail=message, headers=dict(headers or {}))
        self.message = message
        self.param = param
        self.code = code
        self.type = type or error_type(status)

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> Response:
        """As a Starlette response, for code that answers outside connexion's error handler."""
        return Response(json.dumps(self.body()), self.status, headers=self.headers, media_type="application/json")

    def to_response(self) -> ConnexionResponse:
        return ConnexionResponse(
            status_code=self.status,
            mimetype="application/json",
            content_type="application/json",
            body=json.dumps(self.body()),
            headers=self.headers,
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
    return _answering(exc, request.method, request.url.path).to_response()


class ServerErrorMiddleware:
    """In place of connexion's outermost layer: a last-resort 500 handler that works.

    connexion 3.3's default one is a coroutine function that starlette calls without awaiting:
    an exception raised outside connexion's exception middleware (in one of ours) ended in a
    TypeError and a dropped connection instead of a 500.

    It also ends the exchange where a pace raised `shaping.Hangup`: returning without the last
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
