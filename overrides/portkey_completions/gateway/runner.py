"""Running a config tree: single, fallback, loadbalance, conditional, retries, a request_timeout per attempt, the cache.

Down to a leaf (`leaf.Leaves` answers it), and back with the answer and where it came from (`Reached`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable
from typing import NamedTuple

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Routed
from portkey_completions.core import spec
from portkey_completions.observe import metrics

from . import backoff, conditions
from . import cache as caching
from . import config as configs
from .directives import Directives
from .leaf import Attempt, Leaf, Leaves
from .upstream import Answer

logger = logging.getLogger(__name__)


_SINGLE = ("single",)  # a config that is one target, or a route without a config


class Reached(NamedTuple):
    """A leaf's answer, not yet sent, and where it came from."""

    answer: Answer
    routed: Routed


class Runner:
    def __init__(
        self,
        leaves: Leaves,
        *,
        cache: caching.ResponseCache | None = None,
        retry_backoff: backoff.Backoff = backoff.DEFAULT,
    ) -> None:
        self.leaves = leaves
        self.tokens = leaves.tokens  # a cached answer's usage is counted as the leaf's was
        self.cache = cache
        self.backoff = backoff.BACKOFFS[retry_backoff]

    def run(self, node: configs.Node, directives: Directives) -> Awaitable[Reached]:
        """The node's outcome: a leaf's answer, or its targets' as its mode picks them.

        Not a coroutine itself: it hands back the chosen node's, so that a leaf costs no frame here.
        """
        while node.targets and node.mode != "fallback":
            if node.mode == "loadbalance":
                node = random.choices(node.targets, weights=[t.weight for t in node.targets])[0]
            elif node.mode == "conditional":
                node = self._condition(node, directives)
            else:  # single
                node = node.targets[0]
        if not node.targets:
            return self._leaf(node, directives)
        return self._fallback(node, directives)

    def _condition(self, node: configs.Node, directives: Directives) -> configs.Node:
        context = directives.context()
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

    async def _fallback(self, node: configs.Node, directives: Directives) -> Reached:
        reached = None
        for i, target in enumerate(node.targets):
            reached = await self.run(target, directives)
            status = reached.answer.status
            failed = status >= 400 if node.on_status_codes is None else status in node.on_status_codes
            if not failed or i == len(node.targets) - 1:
                return reached
            logger.info("fallback from %s (status %d)", target.path, status)
            metrics.FALLBACKS.inc()
            await reached.answer.discard()
        assert reached is not None
        return reached

    async def _leaf(self, node: configs.Node, directives: Directives) -> Reached:
        leaf = self.leaves.resolve(node)
        body = directives.body
        sent = {**body, **node.override_params} if node.override_params else body
        if node.override_params and leaf.base_url is None:
            # The engine reads bodies the spec's validator accepted: the caller's was, what a
            # config merged into it was not. (An upstream judges its own.)
            problem = spec.first_error("CreateCompletionRequest", sent)
            if problem is not None:
                message = f"Invalid config passed: {node.path}.override_params: {problem}"
                error = ServerAPIError(400, message, param="x-portkey-config", code="invalid_config")
                return _reached(Answer(error.status, error.response()), leaf, node, 0)  # as the stub's
        status, key = "DISABLED", ""
        if node.cache is not None and self.cache is not None:
            key = caching.key(directives.cache_partition(), (leaf.provider, leaf.base_url, leaf.api_key), sent)
            if directives.force_refresh():
                status = "REFRESH"
            else:
                entry = await self.cache.cached(key)
                if entry is not None:
                    metrics.CACHE.labels("HIT").inc()
                    caching.count_usage(self.tokens, sent.get("model"), entry)
                    return _reached(Answer(200, caching.answer(entry)), leaf, node, 0, "HIT")
                status = "MISS"
            metrics.CACHE.labels(status).inc()
        timeout = node.request_timeout if node.request_timeout is not None else directives.timeout
        attempt = Attempt(leaf, node, sent, (*node.forward_headers, *directives.forward), directives)
        retries = 0
        while True:
            answer = await self._attempt(attempt, timeout)
            if answer.status not in node.retry.on_status_codes or retries >= node.retry.attempts:
                if answer.status in node.retry.on_status_codes and node.retry.attempts:
                    retries = backoff.EXHAUSTED  # as Portkey says it: every retry spent, and still failing
                break
            await answer.discard()
            wait = backoff.wait(answer.retry_after, retries, self.backoff)
            logger.warning("retry %d of %s after status %d, in %.2f s", retries + 1, node.path, answer.status, wait)
            await asyncio.sleep(wait)
            retries += 1
            metrics.RETRIES.inc()
        if key and answer.status == 200 and node.cache is not None and self.cache is not None:
            store = functools.partial(self.cache.cache, key, max_age=node.cache.max_age)
            answer = answer._replace(response=await caching.keep(answer.response, store))
        return _reached(answer, leaf, node, retries, status)

    async def _attempt(self, attempt: Attempt, timeout: float | None) -> Answer:
        """One attempt at a leaf; past `timeout` it is a 408, which a retry or a fallback acts on as Portkey's does."""
        if timeout is None:
            return await self.leaves.answer(attempt)
        try:
            async with asyncio.timeout(timeout):
                return await self.leaves.answer(attempt)
        except TimeoutError:
            leaf = attempt.leaf
            if leaf.base_url is not None:
                metrics.UPSTREAM_ATTEMPTS.labels(leaf.provider, "timeout").inc()
            error = ServerAPIError(
                408,
                f"Request exceeded the request_timeout of {round(timeout * 1000)} ms ({attempt.node.path}).",
                type="timeout_error",
                code="request_timeout",
            )
            return Answer(error.status, error.response())


def _reached(answer: Answer, leaf: Leaf, node: configs.Node, retries: int, cache: str = "DISABLED") -> Reached:
    return Reached(
        answer, Routed(leaf.provider, node.path, retries, cache, node.not_applied, node.strategies or _SINGLE)
    )
