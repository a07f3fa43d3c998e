"""Whether the server is draining: set when a shutdown signal arrives (`server.lifecycle` sets it).

uvicorn then stops accepting connections and waits for the ones in flight. A long stream would
hold the process that whole time, so streams (the engine's, and those the gateway relays) check
`draining` between events and end cleanly, with an error event saying why
(`call.errors.shutting_down`).
"""

from __future__ import annotations

import threading

draining = threading.Event()
