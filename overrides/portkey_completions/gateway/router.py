"""Routing by auth alternative: a table from the alternative a request matched to where it goes.

    virtual key      -> the store's virtual key (provider, upstream key, base URL)
    provider         -> the store's provider registry; the bearer is the upstream key
    config           -> a Portkey config (JSON, or a saved config's id): strategy over targets
    custom host      -> that base URL, after the SSRF checks

Every route yields a tree of config nodes; the router runs it (single, fallback, loadbalance,
conditional, retries, a request_timeout per attempt, the response cache) down to leaves, each
answered by the built-in `stub` engine or by an upstream. Without a store every leaf but a custom
host is the stub, so code written for a real provider runs offline unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
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

from . import backoff, conditions, hosts
from . import cache as caching
from . import config as configs
from .call import Call
from .pool import Pools
from .store import Store
from .upstream import Answer
from .upstream import forward as forward_to

logger = logging.getLogger(__name__)

Stub = Callable[[dict[str, Any]], Awaitable[Response]]
DEFAULT_UPSTREAM_TIMEOUT = 600.0
REQUEST_ID = "x-request-id"
_REQUEST_ID = REQUEST_ID.encode()
NOT_APPLIED = "x-portkey-not-applied"  # config keys accepted that had no effect (see config.py)
# The response headers the gateway sets on every routed answer.
_OURS = frozenset(
    {
        b"x-portkey-trace-id",
        b"x-portkey-provider",
        b"x-portkey-retry-attempt-count",
        b"x-portkey-last-used-option-index",
        b"x-portkey-cache-status",
        NOT_APPLIED.encode(),
    }
)


class Leaf(NamedTuple):
    provider: str
    base_url: str | None  # None: the stub engine
    api_key: str | None
    custom: bool = False  # a host the caller chose: dialled only at checked addresses


class Outcome(NamedTuple):
    answer: Answer
    provider: str
    path: str
    retries: int  # backoff.EXHAUSTED: all were spent
    cache: str = "DISABLED"  # x-portkey-cache-status: HIT, MISS, REFRESH, or DISABLED (no cache on the target)
    not_applied: tuple[str, ...] = ()


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
        cache: caching.ResponseCache | None = None,
        retry_backoff: str = backoff.DEFAULT,
    ) -> None:
        self.store = store
        self.cache = cache
        # A response header the spec declares that the gateway can produce: a request id, the trace id.
        self.request_id = REQUEST_ID in spec.response_headers("/completions", "post", 200)
        self.backoff = backoff.BACKOFFS[retry_backoff]
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
        # Portkey's option index is a path in the config; a request routed by headers alone is
        # the config's root, "config" (the journal's route still says which alternative).
        path = outcome.path if outcome.path.startswith("config") else "config"
        raw += [
            (b"x-portkey-trace-id", trace_id.encode("latin-1")),
            (b"x-portkey-provider", outcome.provider.encode("latin-1")),
            (b"x-portkey-retry-attempt-count", str(outcome.retries).encode()),
            (b"x-portkey-last-used-option-index", path.encode("latin-1")),
            (b"x-portkey-cache-status", outcome.cache.encode()),
        ]
        if self.request_id and not any(name == _REQUEST_ID for name, _ in raw):  # an upstream's own stays
            raw.append((_REQUEST_ID, trace_id.encode("latin-1")))
        if outcome.not_applied:
            raw.append((NOT_APPLIED.encode(), ", ".join(outcome.not_applied).encode("latin-1")))
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
        return await self._run(node, Call.of(headers, body))

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
                    if not configs.is_config_id(decoded):
                        raise configs.ConfigError(
                            f"Invalid config passed: x-portkey-config is neither a JSON object nor a config id "
                            f"(pc-…): {decoded[:40]!r}."
                        )
                    if self.store.open:  # no store: any config id is the stub
                        return configs.Node("config", provider=STUB)
                    raise configs.ConfigError(f"Invalid config id passed: {decoded!r} is not a saved config.")
                decoded = saved
            return configs.parse(decoded)
        except configs.ConfigError as exc:
            raise ServerAPIError(400, str(exc), param="x-portkey-config", code="invalid_config") from None

    # -- running a config tree -------------------------------------------------------------------

    def _run(self, node: configs.Node, call: Call) -> Awaitable[Outcome]:
        """The node's outcome: a leaf's answer, or its targets' as its mode picks them.

        Not a coroutine itself: it hands back the chosen node's, so that a leaf costs no frame here.
        """
        while node.targets and node.mode != "fallback":
            if node.mode == "loadbalance":
                node = random.choices(node.targets, weights=[t.weight for t in node.targets])[0]
            elif node.mode == "conditional":
                node = self._condition(node, call)
            else:  # single
                node = node.targets[0]
        if not node.targets:
            return self._leaf(node, call)
        return self._fallback(node, call)

    def _condition(self, node: configs.Node, call: Call) -> configs.Node:
        context = call.context()
        for condition in node.conditions:
            if conditions.holds(condition.query, context):
                return node.named(condition.then)
        if node.default is not None:
            return node.named(node.default)
        # Portkey answers a 500 here; it is the request (and its config) that decide, so a 400.
        raise ServerAPIError(
            400,
            f"Invalid config passed: no condition of {node.path}.strategy.conditions holds for this request, "
            "and the strategy has no default target.",
            param="x-portkey-config",
            code="no_matching_condition",
        )

    async def _fallback(self, node: configs.Node, call: Call) -> Outcome:
        outcome = None
        for i, target in enumerate(node.targets):
            outcome = await self._run(target, call)
            status = outcome.answer.status
            failed = status >= 400 if node.on_status_codes is None else status in node.on_status_codes
            if not failed or i == len(node.targets) - 1:
                return outcome
            logger.info("fallback from %s (status %d)", target.path, status)
            await outcome.answer.discard()
        assert outcome is not None
        return outcome

    async def _leaf(self, node: configs.Node, call: Call) -> Outcome:
        leaf = self._resolve(node)
        body = call.body
        sent = {**body, **node.override_params} if node.override_params else body
        if node.override_params and leaf.base_url is None:
            # The engine reads bodies the spec's validator accepted: the caller's was, what a
            # config merged into it was not. (An upstream judges its own.)
            problem = spec.first_error("CreateCompletionRequest", sent)
            if problem is not None:
                message = f"Invalid config passed: {node.path}.override_params: {problem}"
                error = ServerAPIError(400, message, param="x-portkey-config", code="invalid_config")
                return Outcome(Answer(error.status, error.response()), leaf.provider, node.path, 0)  # as the stub's
        status, key = "DISABLED", ""
        if node.cache is not None and self.cache is not None:
            key = caching.key(call.cache_partition(), (leaf.provider, leaf.base_url, leaf.api_key), sent)
            if call.force_refresh():
                status = "REFRESH"
            else:
                entry = await self.cache.cached(key)
                if entry is not None:
                    hit = Answer(200, caching.answer(entry))
                    return Outcome(hit, leaf.provider, node.path, 0, "HIT", node.not_applied)
                status = "MISS"
        timeout = node.request_timeout if node.request_timeout is not None else call.timeout
        forward = (*node.forward_headers, *call.forward)
        retries = 0
        while True:
            answer = await self._attempt(leaf, sent, call.headers, node, forward, timeout)
            if answer.status not in node.retry.on_status_codes or retries >= node.retry.attempts:
                if answer.status in node.retry.on_status_codes and node.retry.attempts:
                    retries = backoff.EXHAUSTED  # as Portkey says it: every retry spent, and still failing
                break
            await answer.discard()
            await asyncio.sleep(backoff.wait(answer.retry_after, retries, self.backoff))
            retries += 1
        if key and answer.status == 200 and node.cache is not None and self.cache is not None:
            store = functools.partial(self.cache.cache, key, max_age=node.cache.max_age)
            answer = answer._replace(response=await caching.keep(answer.response, store))
        return Outcome(answer, leaf.provider, node.path, retries, status, node.not_applied)

    async def _attempt(
        self,
        leaf: Leaf,
        body: dict[str, Any],
        caller: Mapping[str, str],
        node: configs.Node,
        forward: tuple[str, ...],
        timeout: float | None,
    ) -> Answer:
        """One attempt at a leaf; past `timeout` it is a 408, which a retry or a fallback acts on as Portkey's does."""
        if timeout is None:
            return await self._answer(leaf, body, caller, node, forward)
        try:
            async with asyncio.timeout(timeout):
                return await self._answer(leaf, body, caller, node, forward)
        except TimeoutError:
            error = ServerAPIError(
                408,
                f"Request exceeded the request_timeout of {round(timeout * 1000)} ms ({node.path}).",
                type="timeout_error",
                code="request_timeout",
            )
            return Answer(error.status, error.response())

    async def _answer(
        self, leaf: Leaf, body: dict[str, Any], caller: Mapping[str, str], node: configs.Node, forward: tuple[str, ...]
    ) -> Answer:
        if leaf.base_url is None:
            try:
                response = await self.stub(body)
            except ServerAPIError as error:
                return Answer(error.status, error.response())
            return Answer(response.status_code, response)
        pools = self.pools
        return await forward_to(
            pools.custom if leaf.custom else pools.trusted,
            leaf.base_url,
            leaf.api_key,
            body,
            caller,
            provider=leaf.provider,
            validate=self.validate_upstream,
            timeout=self.timeout,
            forward=forward,
            extra=node.upstream_headers,
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


__all__ = ["Router"]
