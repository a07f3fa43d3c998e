"""The server's life and its signals.

- SIGTERM and SIGINT: `observe.draining.draining` is set (streams end cleanly, readiness says 503),
  uvicorn stops accepting connections and waits for those in flight, and the process exits 0.
- SIGHUP: the store file and the scenario file are read again (`CompletionsApp.reload`); the server goes on.
  With `--workers N`, uvicorn's supervisor takes SIGHUP and restarts the workers, which read
  both files as they start.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.server import HANDLED_SIGNALS

from portkey_completions.observe.draining import draining

logger = logging.getLogger(__name__)


class Server(uvicorn.Server):
    """uvicorn's server: tells the streams when a shutdown begins, reloads on SIGHUP, exits 0 after a drain."""

    def __init__(self, config: uvicorn.Config, reload: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.reload = reload

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining.set()
        super().handle_exit(sig, frame)

    def handle_hangup(self, sig: int, frame: FrameType | None) -> None:
        logger.info("SIGHUP: reading the store and the scenario file again")
        if self.reload is not None:
            self.reload()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # As uvicorn's, less re-raising the exit signal once the server has drained: that made a
        # clean SIGTERM exit 143 (and a SIGHUP, which uvicorn leaves to its default, killed it).
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        original[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.handle_hangup)
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def drain_on_exit_signals() -> None:
    """In a `--workers` process, where uvicorn runs its own Server: set `draining` ahead of its exit handler.

    Called from the worker's app factory, which uvicorn calls once its server has taken SIGINT
    and SIGTERM; the handlers found there are chained, not replaced. A test sends SIGTERM to a
    `serve --workers 2` mid-stream, so an uvicorn that ordered this otherwise would show.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, functools.partial(_drain_then, previous))


def _drain_then(previous: Callable[[int, FrameType | None], Any], sig: int, frame: FrameType | None) -> None:
    draining.set()
    previous(sig, frame)
