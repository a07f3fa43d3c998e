"""Every error leaves the server in the OpenAI shape: {"error": {message, type, param, code}}.

`ServerAPIError` is what any room raises or answers with. It is a plain exception: the edge
(`server/errors.py`) registers one handler for every exception class with connexion, so it
needs no framework base class to be let through, and the rooms below the edge stay free of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

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


class ServerAPIError(Exception):
    """An error the server answers with, carrying OpenAI's `param` and `code`."""

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
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or error_type(status)
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ServerAPIError({self.status}, {self.message!r}, code={self.code!r})"

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def content(self) -> bytes:
        return json.dumps(self.body()).encode()

    def response(self) -> Response:
        """As a Starlette response."""
        return Response(self.content(), self.status, headers=self.headers, media_type="application/json")


def shutting_down() -> ServerAPIError:
    """The error a stream ends with when the server drains (`observe.draining`)."""
    return ServerAPIError(503, "The server is shutting down: this stream ends here.", code="server_shutting_down")
