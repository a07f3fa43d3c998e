"""The server's life: `call.draining.draining` is set when a shutdown signal arrives (see there why)."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from portkey_completions.call.draining import draining


class Server(uvicorn.Server):
    """uvicorn's server, which also tells the streams when a shutdown begins."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining.set()
        super().handle_exit(sig, frame)


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
