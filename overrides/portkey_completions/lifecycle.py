"""The server's life: `draining` is set when a shutdown signal arrives.

uvicorn then stops accepting connections and waits for the ones in flight. A long stream would
hold the process that whole time, so streams check `draining` between events and end cleanly,
with an error event saying why.
"""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn

draining = threading.Event()


class Server(uvicorn.Server):
    """uvicorn's server, which also tells the streams when a shutdown begins."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining.set()
        super().handle_exit(sig, frame)
