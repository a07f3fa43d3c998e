"""How the engine's answer to this request is shaped, if a layer above asked: the server's side of it.

A scenario rule (the testing toolkit) may fix the text, and pace or break a stream. The layer
that matched it sets `current` around the request; `handler.answer` reads it while handling and
binds it into the stream it returns, because a stream's body runs after the handler has
returned. The server never needs to know what a rule is.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

Events = AsyncIterator[bytes]


@dataclass(frozen=True)
class Shape:
    text: str | None = None  # written instead of sampled (each token still scored by the model)
    pace: Callable[[Events], Events] | None = None  # the stream's events, delayed or broken


current: contextvars.ContextVar[Shape | None] = contextvars.ContextVar("answer_shape", default=None)


class Hangup(BaseException):
    """Raised by a pace to drop the connection mid-answer, as asked (a scenario's disconnect).

    A BaseException, so that no handler on the way turns it into an error answer: the outermost
    layer (`errors.ServerErrorMiddleware`) ends the exchange there, leaving the response unfinished.
    """
