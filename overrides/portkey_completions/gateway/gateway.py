"""The gateway's door: a call checked against the store, routed by its auth alternative, run, and recorded.

Every route yields a tree of config nodes (`routes`); the runner takes it down to leaves, each
answered by the built-in `stub` provider or by an upstream (`runner`, `leaf`). Without a store
every leaf but a custom host is the stub, so code written for a real provider runs offline
unchanged. Where it went is written into the call record (`Call.routed`), from which the edge
writes Portkey's response headers and the journal.
"""

from __future__ import annotations

from starlette.responses import Response

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Call
from portkey_completions.call.security import Alternatives
from portkey_completions.core import headers as portkey

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

    async def handle(self, call: Call) -> Response:
        try:
            self.stores.current().admit(call.headers.get(portkey.API_KEY, ""))
            if call.requirement is not None:
                node = self.routes.tree(call.requirement, call.headers)
            elif call.via is not None:  # a saved prompt's own route
                node = self.routes.saved(call.via)
            else:
                raise self.alternatives.refusal(call.headers)
            outcome = await self.runner.run(node, Directives.of(call), call.shape)
        except ServerAPIError as error:
            return error.response()
        call.routed = outcome.routed
        return outcome.answer.response
