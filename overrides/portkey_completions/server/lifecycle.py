"""The server's life and its signals.

- SIGTERM and SIGINT: `observe.draining.draining` is set (streams end cleanly, readiness says 503),
  uvicorn stops accepting connections and waits for those in flight, and the process exits 0.
- SIGHUP: the store file and the scenario file are read again (`CompletionsApp.reload`); the server goes on.
  With `--workers N`, uvicorn's supervisor takes SIGHUP and restarts the workers, which read
  both files as they start.
- A Redis `--state` away at start (`StateWait`): the server starts anyway, readiness says 503 with
  the reason, and if Redis has not answered within `--state-wait` the process stops itself with
  SIGTERM and exits 2. Compose and Kubernetes start services in no guaranteed order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
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


class StateWait:
    """Redis unreachable at start: poll it from a thread; after `seconds` without an answer, stop the server.

    The process (uvicorn's single server, or the supervisor of `--workers N`) is sent SIGTERM, so it
    drains as on any stop; `gave_up` then tells the CLI to exit 2. Meanwhile each worker's own
    connection keeps retrying, and `/readyz` names the unreachable state.
    """

    POLL = 0.5  # seconds between attempts: a late Redis is found within this

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self.gave_up = False

    @classmethod
    def begin(cls, url: str, seconds: float) -> StateWait | None:
        """None when Redis answers now; else a started watch, with the reason logged at warning."""
        # Imported here: only servers that share state load redis (start-up stays light).
        from portkey_completions.control import redis_state

        problem = redis_state.check(url)
        if problem is None:
            return None
        logger.warning("--state %s; waiting up to %g s for it (--state-wait), /readyz 503 meanwhile", problem, seconds)
        watch = cls(url, seconds)
        threading.Thread(target=watch._watch, name="state-wait", daemon=True).start()
        return watch

    def _watch(self) -> None:
        from portkey_completions.control import redis_state

        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(self.POLL)
            if redis_state.check(self.url) is None:
                logger.warning("--state %s: reachable; ready once the rules are read", redis_state.shown(self.url))
                return
        problem = redis_state.check(self.url)
        if problem is None:
            return
        logger.error("--state %s, still after %g s (--state-wait): stopping", problem, self.seconds)
        self.gave_up = True
        os.kill(os.getpid(), signal.SIGTERM)
