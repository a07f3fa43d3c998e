"""Whether the server is draining: set when a shutdown signal arrives (`server.lifecycle` sets it).

uvicorn then stops accepting connections and waits for the ones in flight. A long stream would
hold the process that whole time, so streams (the engine's, and those the gateway relays) check
`draining` between events and end cleanly, with an error event saying why (`shutting_down`).
"""

from __future__ import annotations

import threading

from .errors import ServerAPIError

draining = threading.Event()


def shutting_down() -> ServerAPIError:
    """The error a stream ends with when the server drains."""
    return ServerAPIError(503, "The server is shutting down: this stream ends here.", code="server_shutting_down")
