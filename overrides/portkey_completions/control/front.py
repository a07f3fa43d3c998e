"""What answers a request before the gateway routes it: a replayed cassette, or a scenario rule.

A rule that fails the request (a status, `fail_first`) answers here; a rule that shapes the
engine's answer (text, stream pacing, faults) is handed down to the gateway beside the call, for
the stub (`Shape`). The rule applied comes back up in the outcome (`Outcome.rule`), which the
journal reads.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Call, Outcome
from portkey_completions.call.shape import Hangup, Shape
from portkey_completions.engine.tokenizer import Tokenizer
from portkey_completions.gateway.gateway import Gateway
from portkey_completions.observe import metrics

from . import faults, journal
from .cassette import Cassette, replay
from .rules import RuleError
from .scenarios import Scenarios
from .state import StateUnavailable, unavailable

DEFAULT_MESSAGES = {
    429: "Rate limit reached for requests (scenario). Please try again later.",
    500: "The server had an error while processing your request (scenario).",
}


class Front:
    def __init__(
        self,
        gateway: Gateway,
        rules: Scenarios,
        tokenizer: Tokenizer,
        cassette: Cassette | None = None,
        replay_speed: float = 1.0,
    ) -> None:
        self.gateway = gateway
        self.rules = rules
        self.tokenizer = tokenizer
        self.cassette = cassette
        self.replay_speed = replay_speed

    async def handle(self, call: Call) -> Outcome:
        body = call.body
        assert body is not None  # the edge hands on validated calls only
        try:
            self.gateway.admit(call)
        except ServerAPIError as refused:
            return Outcome(refused.response())
        if self.cassette is not None:
            try:
                return Outcome(replay(self.cassette.find(body), self.replay_speed), rule="replay")
            except ServerAPIError as missing:
                return Outcome(missing.response(), rule="replay")
        try:
            # A rule's `alternative` is one of the spec's: a plain OpenAI request stands for `provider`.
            requirement = None if call.requirement is None else call.requirement.name
            prompts = functools.partial(self._prompts, body)
            matched = await self.rules.match(body, call.headers, requirement, prompts, call.namespace)
        except RuleError as exc:
            return Outcome(ServerAPIError(400, str(exc), param="Prefer", code="invalid_prefer").response())
        except StateUnavailable as exc:
            # Answering without the rules would let a fault-injection test pass on a normal answer.
            metrics.STATE_ERRORS.inc()
            return Outcome(unavailable(exc).response())
        if matched is None:
            return await self.gateway.handle(call)
        rule, hit = matched
        metrics.RULE_HITS.labels(rule.id if rule.source == "file" else rule.source).inc()
        # ttft on an answer that is not streamed: its first token is the whole answer, so it waits.
        wait = rule.latency
        if rule.ttft and not body.get("stream"):
            wait += rule.ttft
        if wait and await journal.client_leaves_within(call, wait):
            raise Hangup(rule=rule.id)  # nobody is left to answer: the journal says the client went away
        if rule.fails(hit):
            assert rule.status is not None
            default = DEFAULT_MESSAGES.get(rule.status, f"Scenario {rule.id}: {rule.status}.")
            outcome = Outcome(rule.error_answer(rule.status, default).response())
        else:
            outcome = await self.gateway.handle(call, Shape(rule.text, functools.partial(faults.paced, rule=rule)))
        outcome.response.headers.update(rule.response_headers)
        return outcome._replace(rule=rule.id, faults=rule.applied(hit))

    def _prompts(self, body: Mapping[str, Any]) -> list[str]:
        """The request's prompts as text, for `match.prompt`."""
        prompt = body.get("prompt")
        if prompt is None:
            return ["<|endoftext|>"]
        if isinstance(prompt, str):
            return [prompt]
        if isinstance(prompt, list) and prompt and all(isinstance(i, int) for i in prompt):
            return [self._decode(prompt)]
        if isinstance(prompt, list):
            return [p if isinstance(p, str) else self._decode(p) for p in prompt if isinstance(p, str | list)]
        return []

    def _decode(self, ids: list[Any]) -> str:
        valid = [i for i in ids if isinstance(i, int) and i in self.tokenizer.valid]
        return self.tokenizer.decode(valid)
