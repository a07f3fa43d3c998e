"""Routing by auth alternative: a table from the alternative a request matched to where it goes.

    virtual key      -> the store's virtual key (provider, upstream key, base URL)
    provider         -> the store's provider registry; the bearer is the upstream key
    config           -> a Portkey config (JSON, or a saved config's id): strategy over targets
    custom host      -> that base URL, after the SSRF checks

Every route yields a tree of config nodes; the router runs it (single, fallback, loadbalance,
retries, request_timeout) down to leaves, each answered by the built-in `stub` engine or by an
upstream. Without a store every leaf but a custom host is the stub, so code written for a real
provider runs offline unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from starlette.responses import Response

from portkey_completions.core import headers as portkey
from portkey_completions.core import spec
from portkey_completions.core.alternatives import Alternative
from portkey_completions.core.headers import STUB
from portkey_completions.server import notes, trace
from portkey_completions.server.auth import Alternatives, Requirement
from portkey_completions.server.errors import ServerAPIError

from . import config as configs
from . import hosts
from .pool import Pools
from .store import Store
from .upstream import Answer, forward

logger = logging.getLogger(__name__)

Stub = Callable[[dict[str, Any]], Awaitable[Response]]
MAX_RETRY_AFTER = 60.0
DEFAULT_UPSTREAM_TIMEOUT = 600.0
# The response headers the gateway sets on every routed answer.
_OURS = frozenset(
    {
        b"x-portkey-trace-id",
        b"x-portkey-provider",
        b"x-portkey-retry-attempt-count",
        b"x-portkey-last-used-option-index",
        b"x-portkey-cache-status",
    }
)
# Trace ids: unique per process, without a read of urandom per request.


class Leaf(NamedTuple):
    provider: str
    base_url: str | None  # None: the stub engine
    api_key: str | None
    custom: bool = False  # a host the caller chose: dialled only at checked addresses


class Outcome(NamedTuple):
    answer: Answer
    provider: str
    path: str
    retries: int


class Router:
    def __init__(
        self,
        alternatives: Alternatives,
        store: Store,
        stub: Stub,
        *,
        trusted_hosts: tuple[str, ...] = hosts.DEFAULT_TRUSTED,
        validate_upstream: bool = False,
        timeout: float = DEFAULT_UPSTREAM_TIMEOUT,
    ) -> None:
        self.store = store
        self.stub = stub
        self.trusted_hosts = trusted_hosts
        self.validate_upstream = validate_upstream
        self.timeout = timeout
        self.alternatives = alternatives
        # The route table: each alternative's config tree.
        routes: dict[Alternative, Callable[[Mapping[str, str]], configs.Node]] = {
            Alternative.VIRTUAL_KEY: self._virtual_key,
            Alternative.PROVIDER: self._provider,
            Alternative.CONFIG: self._config,
            Alternative.CUSTOM_HOST: self._custom_host,
        }
        # An alternative the spec has and this table does not (the spec gained one) is still served:
        # by the stub without a store, and refused with what is missing with one (`_unrouted`).
        self.routes: dict[Requirement, tuple[str, Callable[[Mapping[str, str]], configs.Node]]] = {}
        for requirement in alternatives.alternatives:
            added = self._key(requirement)
            name = Alternative.for_headers(added)
            if name is None:
                self.routes[requirement] = (" + ".join(sorted(added)), functools.partial(self._unrouted, requirement))
            else:
                self.routes[requirement] = (name, routes[name])
        self._pools: tuple[asyncio.AbstractEventLoop, Pools] | None = None

    def alternative_name(self, headers: Mapping[str, str]) -> str | None:
        """virtual_key, provider, config or custom_host: the alternative the headers match, if any."""
        alternative = self.alternatives.match(headers)
        return None if alternative is None else self.routes[alternative][0]

    def _key(self, requirement: Requirement) -> frozenset[str]:
        return frozenset(s.header for s in requirement.schemes if s not in self.alternatives.common)

    @property
    def pools(self) -> Pools:
        """Connection pools per event loop (a test client runs its own loop)."""
        loop = asyncio.get_running_loop()
        if self._pools is None or self._pools[0] is not loop:
            self._pools = (loop, Pools(self.trusted_hosts))
        return self._pools[1]

    async def handle(self, headers: Mapping[str, str], body: dict[str, Any]) -> Response:
        trace_id = headers.get("x-portkey-trace-id") or trace.new_trace_id()
        try:
            outcome = await self._route(headers, body)
        except ServerAPIError as error:
            response = error.response()
            response.headers["x-portkey-trace-id"] = trace_id
            return response
        response = outcome.answer.response
        notes.note(provider=outcome.provider, route=outcome.path, retries=outcome.retries)
        # Straight onto the raw list: MutableHeaders rescans it for every header set (5 here).
        raw = response.raw_headers
        if any(name in _OURS for name, _ in raw):  # an upstream's own: ours replace them
            raw[:] = [(name, value) for name, value in raw if name not in _OURS]
        raw += [
            (b"x-portkey-trace-id", trace_id.encode("latin-1")),
            (b"x-portkey-provider", outcome.provider.encode("latin-1")),
            (b"x-portkey-retry-attempt-count", str(outcome.retries).encode()),
            (b"x-portkey-last-used-option-index", outcome.path.encode("latin-1")),
            (b"x-portkey-cache-status", b"DISABLED"),
        ]
        return response

    async def _route(self, headers: Mapping[str, str], body: dict[str, Any]) -> Outcome:
        if not self.store.accepts(headers.get("x-portkey-api-key", "")):
            raise ServerAPIError(
                401, "Invalid API key: x-portkey-api-key is not one of this gateway's keys.", code="invalid_api_key"
            )
        alternative = self.alternatives.match(headers)
        if alternative is None:
            raise self.alternatives.refusal(headers)
        _, build = self.routes[alternative]
        node = build(headers)
        timeout = node.request_timeout
        header_timeout = headers.get("x-portkey-request-timeout")
        if header_timeout:
            try:
                timeout = float(header_timeout) / 1000
            except ValueError:
                timeout = math.nan
            if not 0 < timeout < math.inf:
                raise ServerAPIError(
                    400,
                    "x-portkey-request-timeout must be a positive number of milliseconds.",
                    param="x-portkey-request-timeout",
                )
        if timeout is None:
            return await self._run(node, body, headers)
        try:
            async with asyncio.timeout(timeout):
                return await self._run(node, body, headers)
        except TimeoutError:
            raise ServerAPIError(
                408,
                f"Request exceeded the request_timeout of {round(timeout * 1000)} ms.",
                type="timeout_error",
                code="request_timeout",
            ) from None

    # -- the routes: headers -> config tree ----------------------------------------------------

    def _virtual_key(self, headers: Mapping[str, str]) -> configs.Node:
        return configs.Node("virtual_key", virtual_key=headers["x-portkey-virtual-key"].strip())

    def _provider(self, headers: Mapping[str, str]) -> configs.Node:
        return configs.Node("provider", provider=headers["x-portkey-provider"].strip(), api_key=_bearer(headers))

    def _custom_host(self, headers: Mapping[str, str]) -> configs.Node:
        return configs.Node(
            "custom_host",
            provider=headers["x-portkey-provider"].strip(),
            api_key=_bearer(headers),
            custom_host=headers["x-portkey-custom-host"].strip(),
        )

    def _unrouted(self, requirement: Requirement, headers: Mapping[str, str]) -> configs.Node:
        if self.store.open:  # no store: like every other alternative, the stub answers
            return configs.Node("config", provider=STUB)
        unrouted = requirement.label(omit=self.alternatives.common)
        raise ServerAPIError(
            400,
            f"This gateway has no route for the auth alternative {unrouted}: with a store it routes "
            f"{', '.join(Alternative)} only. Send one of those, or run it without --store to answer with the stub.",
            param=" + ".join(sorted(self._key(requirement))),
            code="unsupported_alternative",
        )

    def _config(self, headers: Mapping[str, str]) -> configs.Node:
        try:
            decoded = configs.decode(headers["x-portkey-config"])
            if isinstance(decoded, str):
                saved = self.store.configs.get(decoded)
                if saved is None:
                    if self.store.open:  # no store: any config id is the stub
                        return configs.Node("config", provider=STUB)
                    raise configs.ConfigError(f"Invalid config id passed: {decoded!r} is not a saved config.")
                decoded = saved
            return configs.parse(decoded)
        except configs.ConfigError as exc:
            raise ServerAPIError(400, str(exc), param="x-portkey-config", code="invalid_config") from None

    # -- running a config tree -------------------------------------------------------------------

    def _run(self, node: configs.Node, body: dict[str, Any], caller: Mapping[str, str]) -> Awaitable[Outcome]:
        """The node's outcome: a leaf's answer, or its targets' as its mode picks them.

        Not a coroutine itself: it hands back the chosen node's, so that a leaf costs no frame here.
        """
        while node.targets and node.mode != "fallback":
            if node.mode == "loadbalance":
                node = random.choices(node.targets, weights=[t.weight for t in node.targets])[0]
            else:  # single
                node = node.targets[0]
        if not node.targets:
            return self._leaf(node, body, caller)
        return self._fallback(node, body, caller)

    async def _fallback(self, node: configs.Node, body: dict[str, Any], caller: Mapping[str, str]) -> Outcome:
        outcome = None
        for i, target in enumerate(node.targets):
            outcome = await self._run(target, body, caller)
            status = outcome.answer.status
            failed = status >= 400 if node.on_status_codes is None else status in node.on_status_codes
            if not failed or i == len(node.targets) - 1:
                return outcome
            logger.info("fallback from %s (status %d)", target.path, status)
            await outcome.answer.discard()
        assert outcome is not None
        return outcome

    async def _leaf(self, node: configs.Node, body: dict[str, Any], caller: Mapping[str, str]) -> Outcome:
        leaf = self._resolve(node)
        sent = {**body, **node.override_params} if node.override_params else body
        if node.override_params and leaf.base_url is None:
            # The engine reads bodies the spec's validator accepted: the caller's was, what a
            # config merged into it was not. (An upstream judges its own.)
            problem = spec.first_error("CreateCompletionRequest", sent)
            if problem is not None:
                message = f"Invalid config passed: {node.path}.override_params: {problem}"
                error = ServerAPIError(400, message, param="x-portkey-config", code="invalid_config")
                return Outcome(Answer(error.status, error.response()), leaf.provider, node.path, 0)  # as the stub's
        retries = 0
        while True:
            answer = await self._answer(leaf, sent, caller)
            if answer.status not in node.retry.on_status_codes or retries >= node.retry.attempts:
                return Outcome(answer, leaf.provider, node.path, retries)
            await answer.discard()
            await asyncio.sleep(_wait(answer.retry_after, retries))
            retries += 1

    async def _answer(self, leaf: Leaf, body: dict[str, Any], caller: Mapping[str, str]) -> Answer:
        if leaf.base_url is None:
            try:
                response = await self.stub(body)
            except ServerAPIError as error:
                return Answer(error.status, error.response())
            return Answer(response.status_code, response)
        pools = self.pools
        return await forward(
            pools.custom if leaf.custom else pools.trusted,
            leaf.base_url,
            leaf.api_key,
            body,
            caller,
            provider=leaf.provider,
            validate=self.validate_upstream,
            timeout=self.timeout,
        )

    def _resolve(self, node: configs.Node) -> Leaf:
        """Where a leaf goes: a custom host, a virtual key's target, or a provider's base URL."""
        store = self.store
        if node.custom_host:
            # The form here; the address where the connection is made (pool.Pinned).
            try:
                hosts.check_url(node.custom_host, self.trusted_hosts)
            except hosts.HostRefused as exc:
                raise exc.api_error() from None
            return Leaf(node.provider or "custom", node.custom_host, node.api_key, custom=True)
        if node.virtual_key:
            if store.open:
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
            return Leaf(provider if not store.open else STUB, store.base_url(provider), node.api_key)
        except KeyError:
            known = ", ".join(sorted({STUB, *store.providers}))
            raise ServerAPIError(
                400,
                f"Unknown provider {provider!r}: this gateway knows {known}.",
                param="x-portkey-provider",
                code="unknown_provider",
            ) from None


def _bearer(headers: Mapping[str, str]) -> str:
    return portkey.bearer(headers.get(portkey.AUTHORIZATION)) or ""


def _wait(retry_after: float | None, retries: int) -> float:
    if retry_after is not None:
        return min(MAX_RETRY_AFTER, retry_after)
    return min(2.0, 0.1 * 2.0**retries)


__all__ = ["Router"]
