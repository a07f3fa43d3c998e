"""Typed errors: one class per status family, each carrying OpenAI's message, type, param and code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx


class PortkeyError(Exception):
    """Everything this client raises, besides ValueError for arguments it refuses."""


class APIConnectionError(PortkeyError):
    """The server could not be reached, or the connection broke."""

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, *, request: httpx.Request | None = None) -> None:
        super().__init__("Request timed out.", request=request)


class APIError(PortkeyError):
    """The server answered with an error: status (None for an error inside a stream) and its body's fields."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message if status_code is None else f"{status_code}: {message}")
        self.message = message
        self.status_code = status_code
        self.type = type
        self.param = param
        self.code = code
        self.body = body
        self.response = response


class BadRequestError(APIError):
    """400"""


class AuthenticationError(APIError):
    """401"""


class NotFoundError(APIError):
    """404"""


class RequestTimeoutError(APIError):
    """408"""


class PayloadTooLargeError(APIError):
    """413"""


class RateLimitError(APIError):
    """429"""


class InternalServerError(APIError):
    """5xx"""


_BY_STATUS: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    408: RequestTimeoutError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}

# An error inside a stream has no status of its own: its `type` names the family.
_BY_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "not_found_error": 404,
    "timeout_error": 408,
    "rate_limit_error": 429,
}


def error_class(status: int) -> type[APIError]:
    return InternalServerError if status >= 500 else _BY_STATUS.get(status, APIError)


def from_body(status: int | None, body: Any, response: httpx.Response | None = None) -> APIError:
    """The typed error for an OpenAI-shaped error body (or whatever else the server sent)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else json.dumps(body)
        error = {"message": text or f"HTTP {status}"}
    family = status if status is not None else _BY_TYPE.get(str(error.get("type")), 500)
    return error_class(family)(
        str(error.get("message", "")),
        status_code=status,
        type=_str_or_none(error.get("type")),
        param=_str_or_none(error.get("param")),
        code=_str_or_none(error.get("code")),
        body=body,
        response=response,
    )


def from_response(response: httpx.Response) -> APIError:
    """The typed error for a non-2xx response whose body has been read."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return from_body(response.status_code, body, response)


def from_transport(exc: httpx.TransportError, request: httpx.Request | None, where: str = "") -> APIConnectionError:
    """The typed error for a failed connection: a timeout, or any other transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(request=request)
    return APIConnectionError(f"Connection error{where}: {exc}", request=request)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class ParameterError(PortkeyError, ValueError):
    """A parameter the spec does not allow, caught before any request is sent."""

    def __init__(self, message: str, *, param: str | None) -> None:
        super().__init__(message)
        self.param = param
