"""A leaf of a config tree: where it goes (the stub, a provider, a virtual key's target, a custom host).

And one attempt at it: answered by the built-in `stub` provider, or forwarded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core.headers import STUB
from portkey_completions.observe import metrics, telemetry, tracing
from portkey_completions.stub.answer import Stub

from . import config as configs
from . import hosts
from .directives import Directives
from .pool import Pools
from .store import Stores
from .upstream import Answer, forward

DEFAULT_UPSTREAM_TIMEOUT = 600.0


class Leaf(NamedTuple):
    provider: str
    base_url: str | None  # None: the stub engine
    api_key: str | None
    custom: bool = False  # a host the caller chose: dialled only at checked addresses


class Attempt(NamedTuple):
    """One attempt at a leaf: where it goes, the node that sent it there, the body sent, what the call directs."""

    leaf: Leaf
    node: configs.Node
    body: dict[str, Any]  # the call's, with the node's override_params
    forwarded: tuple[str, ...]  # the caller's headers sent on (the node's forward_headers and the call's)
    directives: Directives


class Leaves:
    """Resolves leaves against the store and answers attempts at them: by the stub, or by forwarding."""

    def __init__(
        self,
        stores: Stores,
        stub: Stub,
        *,
        trusted_hosts: tuple[str, ...] = hosts.DEFAULT_TRUSTED,
        validate_upstream: bool = False,
        timeout: float = DEFAULT_UPSTREAM_TIMEOUT,
        tracer: Any = None,
    ) -> None:
        self.stores = stores
        self.stub = stub
        self.tokens = stub.tokens  # an upstream's usage is counted where the stub's is
        self.tracer = tracer  # OpenTelemetry's, when tracing is on: each upstream attempt is a span
        self.trusted_hosts = trusted_hosts
        self.validate_upstream = validate_upstream
        self.timeout = timeout
        self._pools: tuple[asyncio.AbstractEventLoop, Pools] | None = None

    @property
    def pools(self) -> Pools:
        """Connection pools per event loop (a test client runs its own loop)."""
        loop = asyncio.get_running_loop()
        if self._pools is None or self._pools[0] is not loop:
            self._pools = (loop, Pools(self.trusted_hosts))
        return self._pools[1]

    def resolve(self, node: configs.Node) -> Leaf:
        """Where a leaf goes: a custom host, a virtual key's target, or a provider's base URL."""
        store = self.stores.current()
        if node.custom_host:
            # The form here; the address where the connection is made (pool.Pinned).
            try:
                hosts.check_url(node.custom_host, self.trusted_hosts)
            except hosts.HostRefused as exc:
                raise exc.api_error() from None
            return Leaf(node.provider or "custom", node.custom_host, node.api_key, custom=True)
        if node.virtual_key:
            if not store.given:
                return Leaf(STUB, None, None)
            key = store.virtual_keys.get(node.virtual_key)
            if key is None:
                raise ServerAPIError(
                    401,
                    "Invalid virtual key: the x-portkey-virtual-key sent is not in this gateway's store.",
                    code="invalid_virtual_key",
                )
            base = key.base_url or (None if key.provider == STUB else store.providers.get(key.provider))
            return Leaf(key.provider, base, key.api_key)
        provider = node.provider or STUB
        try:
            return Leaf(provider if store.given else STUB, store.base_url(provider), node.api_key)
        except KeyError:
            known = ", ".join(sorted({STUB, *store.providers}))
            raise ServerAPIError(
                400,
                f"Unknown provider {provider!r}: this gateway knows {known}.",
                param="x-portkey-provider",
                code="unknown_provider",
            ) from None

    async def answer(self, attempt: Attempt) -> Answer:
        """One attempt at a leaf, not yet sent."""
        leaf, directives = attempt.leaf, attempt.directives
        if leaf.base_url is None:
            try:
                response = await self.stub.answer(attempt.body, directives.shape)
            except ServerAPIError as error:
                return Answer(error.status, error.response())
            return Answer(response.status_code, response)
        started = time.perf_counter()
        span = None
        call = directives.call
        if call.span is not None:  # tracing on: this attempt is a span of its own, the upstream's parent
            span = telemetry.attempt_span(self.tracer, call.span, leaf.provider, leaf.base_url)
        pools = self.pools
        try:
            answer = await forward(
                pools.custom if leaf.custom else pools.trusted,
                leaf.base_url,
                leaf.api_key,
                attempt.body,
                call.headers,
                provider=leaf.provider,
                validate=self.validate_upstream,
                timeout=self.timeout,
                tokens=self.tokens,
                draining=self.stub.draining,
                forward=attempt.forwarded,
                extra=attempt.node.upstream_headers,
                tracing=tracing.forwarded(call.trace_id, call.headers, span and telemetry.traceparent(span)),
            )
        except BaseException:  # a request_timeout's cancellation: the attempt's span ends too
            if span is not None:
                telemetry.ended(span, 504, [], leaf.provider)
            raise
        metrics.UPSTREAM_DURATION.labels(leaf.provider).observe(time.perf_counter() - started)
        metrics.UPSTREAM_ATTEMPTS.labels(leaf.provider, metrics.outcome(answer.status, answer.code)).inc()
        if span is not None:
            telemetry.ended(span, answer.status, [], leaf.provider)
        return answer
