"""The server's life: `draining` is set when a shutdown signal arrives.

uvicorn then stops accepting connections and waits for the ones in flight. A long stream would
hold the process that whole time, so streams (the engine's, and those the gateway relays) check
`draining` between events and end cleanly, with an error event saying why (`shutting_down`).
"""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn

from .errors import APIError

draining = threading.Event()


def shutting_down() -> APIError:
    """The error a stream ends with when the server drains."""
    return APIError(503, "The server is shutting down: this stream ends here.", code="server_shutting_down")


class Server(uvicorn.Server):
    """uvicorn's server, which also tells the streams when a shutdown begins."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining.set()
        super().handle_exit(sig, frame)
