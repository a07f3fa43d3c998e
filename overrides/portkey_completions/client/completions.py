"""Completions and AsyncCompletions: the generated client behind one typed entry point per auth scheme."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from portkey_completions.core import spec
from portkey_completions_client import Client
from portkey_completions_client.models import CreateCompletionResponse

from . import params
from .credentials import Credentials, optional_headers
from .errors import APIError, ParameterError, PortkeyError, from_response, from_transport
from .retries import Retries
from .streaming import AsyncStream, Stream

DEFAULT_BASE_URL = spec.server_url()  # the spec's server: https://api.portkey.ai/v1
PATH = "/completions"


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        virtual_key: str | None = None,
        provider: str | None = None,
        authorization: str | None = None,
        config: str | Mapping[str, Any] | None = None,
        custom_host: str | None = None,
        auth_headers: Mapping[str, str] | None = None,
        base_url: str = DEFAULT_BASE_URL,
        trace_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        request_timeout: float | None = None,
        timeout: float | httpx.Timeout = 60.0,
        retries: Retries | int = 2,
    ) -> None:
        """A client for exactly one auth alternative.

        Args:
            api_key: The Portkey API key (x-portkey-api-key); every alternative of Portkey's spec needs
                it (a spec without that scheme takes none).
            virtual_key: Alternative 1: a Portkey virtual key.
            provider: With `authorization`: alternative 2; with `custom_host` too: alternative 4.
            authorization: The provider's API key, sent as `Authorization: Bearer …`.
            config: Alternative 3: a Portkey config id, or the config as a dict (sent as JSON).
            custom_host: With `provider` and `authorization`: alternative 4, the provider's URL.
            auth_headers: The headers of an alternative the spec has and no keyword names (the spec
                gained one): e.g. `{"x-portkey-workspace": "ws-1"}`.
            base_url: The API root (default: Portkey's).
            trace_id: Sent as x-portkey-trace-id.
            metadata: Sent as x-portkey-metadata (JSON).
            request_timeout: The gateway's own timeout in seconds, sent as x-portkey-request-timeout (ms).
            timeout: This client's HTTP timeout, in seconds or as an httpx.Timeout.
            retries: How many times to retry (or a Retries policy) on 408, 429, 5xx and connection errors.

        Raises:
            ValueError: The arguments are not exactly one auth alternative, or a value is invalid.
        """
        self.credentials = Credentials(
            api_key, virtual_key, provider, authorization, config, custom_host, dict(auth_headers or {})
        )
        # Public: what every request of this client carries (a test transport needs them too).
        self.headers: dict[str, str] = {
            **self.credentials.headers(),
            **optional_headers(trace_id=trace_id, metadata=metadata, request_timeout=request_timeout),
        }
        self.retries = retries if isinstance(retries, Retries) else Retries(max_retries=retries)
        http_timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.client = Client(base_url=base_url.rstrip("/"), headers=self.headers, timeout=http_timeout)

    @staticmethod
    def _body(values: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
        if "stream" in values:
            raise ParameterError("use create() for a response and stream() for a stream", param="stream")
        body = params.body(values)
        if stream:
            body["stream"] = True
        return body


def _parse(response: httpx.Response) -> CreateCompletionResponse:
    try:
        return CreateCompletionResponse.from_dict(response.json())
    except (KeyError, TypeError, ValueError) as exc:
        raise PortkeyError(f"a 2xx response that is not a completion: {response.text[:200]!r}") from exc


class Completions(_Base):
    """POST /completions, synchronously. Close it (or use `with`) to release its connections."""

    def create(self, **values: Any) -> CreateCompletionResponse:
        """A completion; only the parameters passed are sent, after a check against the spec.

        Raises:
            ParameterError: A parameter the spec does not allow (nothing was sent).
            APIError: Its subclass for the status: BadRequestError, AuthenticationError, ….
            APIConnectionError: The server could not be reached (APITimeoutError: in time).
        """
        response = self._send(self._body(values, stream=False), stream=False)
        try:
            return _parse(response)
        finally:
            response.close()

    def stream(self, **values: Any) -> Stream:
        """Chunks as they are generated. Retried only until the response starts; never after an event."""
        return Stream(self._send(self._body(values, stream=True), stream=True))

    def _send(self, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        http = self.client.get_httpx_client()
        request = http.build_request("POST", PATH, json=body)
        retry = 0
        while True:
            response = None
            try:
                response = http.send(request, stream=stream)
            except httpx.TransportError as exc:
                error: PortkeyError = from_transport(exc, request)
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = from_response(response)
                if not self.retries.retryable(response.status_code):
                    raise error
            wait = self.retries.delay(retry, response)
            if wait is None:
                raise error
            time.sleep(wait)
            retry += 1

    def close(self) -> None:
        self.client.get_httpx_client().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncCompletions(_Base):
    """POST /completions, with asyncio. Close it (or use `async with`) to release its connections."""

    async def create(self, **values: Any) -> CreateCompletionResponse:
        """As Completions.create, awaited."""
        response = await self._send(self._body(values, stream=False), stream=False)
        try:
            return _parse(response)
        finally:
            await response.aclose()

    async def stream(self, **values: Any) -> AsyncStream:
        """As Completions.stream: `async for chunk in await client.stream(...)`."""
        return AsyncStream(await self._send(self._body(values, stream=True), stream=True))

    async def _send(self, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        http = self.client.get_async_httpx_client()
        request = http.build_request("POST", PATH, json=body)
        retry = 0
        while True:
            response = None
            try:
                response = await http.send(request, stream=stream)
            except httpx.TransportError as exc:
                error: PortkeyError = from_transport(exc, request)
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                error = from_response(response)
                if not self.retries.retryable(response.status_code):
                    raise error
            wait = self.retries.delay(retry, response)
            if wait is None:
                raise error
            await asyncio.sleep(wait)
            retry += 1

    async def aclose(self) -> None:
        await self.client.get_async_httpx_client().aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


__all__ = ["DEFAULT_BASE_URL", "APIError", "AsyncCompletions", "Completions"]
