"""The gateway's door: a call checked against the store, routed by its auth alternative, run, and recorded.

Every route yields a tree of config nodes (`routes`); the runner takes it down to leaves, each
answered by the built-in `stub` provider or by an upstream (`runner`, `leaf`). Without a store
every leaf but a custom host is the stub, so code written for a real provider runs offline
unchanged. It returns the response with where it went (`Outcome.routed`), from which the edge
writes Portkey's response headers and the journal.
"""

from __future__ import annotations

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Call, Outcome
from portkey_completions.call.security import Alternatives
from portkey_completions.call.shape import Shape

from .directives import Directives
from .routes import Routes
from .runner import Runner
from .store import Stores


class Gateway:
    def __init__(self, alternatives: Alternatives, stores: Stores, runner: Runner) -> None:
        self.alternatives = alternatives
        self.stores = stores
        self.routes = Routes(stores)
        self.runner = runner

    def admit(self, call: Call) -> None:
        """Nothing for one of the store's keys; else the 401 Portkey answers before anything else.

        The front calls it before a cassette or a scenario rule answers: a stranger's request is
        refused, never shaped by a test's rules.
        """
        scheme, key = self.alternatives.key_scheme, self.alternatives.key(call.headers)
        if scheme is not None and key is not None:  # a spec that asks for no key admits every request
            self.stores.current().admit(key, scheme.label)

    async def handle(self, call: Call, shape: Shape | None = None) -> Outcome:
        """The call (its key admitted) routed and run; `shape`: how control asked the stub's answer to be written."""
        try:
            if call.requirement is not None:
                node = self.routes.tree(call.requirement, call.headers)
            elif call.via is not None:  # a saved prompt's own route
                node = self.routes.saved(call.via)
            else:
                raise self.alternatives.refusal(call.headers)
            reached = await self.runner.run(node, Directives.of(call, shape))
        except ServerAPIError as error:
            return Outcome(error.response())
        return Outcome(reached.answer.response, reached.routed)
