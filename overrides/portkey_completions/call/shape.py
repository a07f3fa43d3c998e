"""How the engine's answer to a call is shaped, if control asked: the stub's side of it.

A scenario rule (the testing toolkit) may fix the text, and pace or break a stream. Control sets
`Call.shape` from the rule it matched; the stub reads it and binds the pace into the stream it
returns. The stub never needs to know what a rule is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

Events = AsyncIterator[bytes]


@dataclass(frozen=True)
class Shape:
    text: str | None = None  # written instead of sampled (each token still scored by the model)
    pace: Callable[[Events], Events] | None = None  # the stream's events, delayed or broken


class Hangup(BaseException):
    """Raised by a pace to drop the connection mid-answer, as asked (a scenario's disconnect).

    A BaseException, so that no handler on the way turns it into an error answer: the outermost
    layer (`server.errors.ServerErrorMiddleware`) ends the exchange there, leaving the response unfinished.
    A hangup before any answer carries the scenario rule that waited (`rule`): no outcome comes
    back up to name it.
    """

    def __init__(self, *args: object, rule: str | None = None) -> None:
        super().__init__(*args)
        self.rule = rule
